"""Accept a deployment request: record it, show it on GitHub as queued, enqueue it.

Every way in — a comment, a merge, a push, a check-run button — comes through here, so a
request is recorded, reported and queued the same way whoever made it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from service import queue
from service.config.model import Config
from service.github.client import InstallationClient
from service.ledger import requests
from service.ledger.rows import RequestRow
from workers import messages
from workers.jobs.context import WorkerContext
from workers.reporters.github_check_run import check_run_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    request_id: int
    position: int
    running: str | None  # what runs now in that environment, when busy
    existing: bool
    superseded: list[int]


async def accept(ctx: WorkerContext, client: InstallationClient, config: Config,
                 new: requests.NewRequest) -> Accepted:
    async with ctx.db.connection() as conn:
        created = await requests.create(conn, new)
        position = await requests.position(conn, created.id)
        running = None
        if position > 1:
            active = await requests.active(conn, new.repo, new.environment)
            first = active[0] if active else None
            if first is not None and first["id"] != created.id:
                running = (f"{first['kind']} of `{first['commit_sha'][:7]}`"
                           + (f" from #{first['pr_number']}" if first["pr_number"] else ""))
    if created.existing:
        # Its first acceptance may have died before showing it on GitHub: finish that.
        await show_queued(ctx, client, created.id, production=_is_production(config, new),
                          environment_url=_environment_url(ctx, config, new),
                          position=position, look_first=True)
        return Accepted(created.id, position, running, True, [])
    await show_queued(ctx, client, created.id, production=_is_production(config, new),
                      environment_url=_environment_url(ctx, config, new), position=position)
    async with ctx.db.connection() as conn:
        for old in created.superseded:
            await _conclude_superseded(ctx, client, conn, old, created.id,
                                       _environment_url(ctx, config, new))
    await queue.enqueue(ctx.redis, ctx.prefix, "run_request",
                        queue.request_job_id(ctx.prefix, created.id), created.id,
                        ahead=True)
    return Accepted(created.id, position, running, False, created.superseded)


def _environment_url(ctx: WorkerContext, config: Config, new: requests.NewRequest
                     ) -> str | None:
    return ctx.environment_url(new.repo, config.environment(new.environment), new.environment)


def _is_production(config: Config, new: requests.NewRequest) -> bool:
    env = config.environment(new.environment)
    return bool(env and env.production)


async def show_queued(ctx: WorkerContext, client: InstallationClient,
                      request_id: int, *, production: bool,
                      environment_url: str | None, position: int = 1,
                      look_first: bool = False) -> RequestRow | None:
    """Give the request its check run and GitHub deployment, unless it has them; return the
    request as recorded afterwards.

    Serialised per request: the reconciler may start a request (its job lost) while a slow
    GitHub still holds up the acceptance that is creating them, and the run must report to
    the same check run, not to none or to a second one. `look_first` searches GitHub before
    creating, for a worker that died between GitHub creating a thing and our recording it.
    """
    async with ctx.db.connection() as conn, conn.transaction():
        # A transaction's lock: released however this ends (an error, a cancelled job, a
        # dead worker), so it can never be left held on a pooled connection.
        await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_REPORT_LOCK, request_id))
        req = await requests.get(conn, request_id)
        if req is None:
            return None
        check_id, gh_dep_id = req["check_run_id"], req["gh_deployment_id"]
        if check_id is None:
            check_id = await _check_run(client, req, position, look_first)
        if gh_dep_id is None and req["kind"] != "dry_run":
            gh_dep_id = await _deployment(client, req, production, look_first, links={
                "log_url": ctx.request_url(request_id), "environment_url": environment_url})
        await requests.set_github_ids(conn, request_id, check_run_id=check_id,
                                      gh_deployment_id=gh_dep_id)
        return await requests.get(conn, request_id)


_REPORT_LOCK = 7_210_002  # advisory lock class: showing one request on GitHub


async def _check_run(client: InstallationClient, req: RequestRow, position: int,
                     look_first: bool) -> int | None:
    name, env, sha = check_run_name(req["environment"]), req["environment"], req["commit_sha"]
    try:
        found = look_first and await client.find_check_run(
            req["repo"], sha, name=name, external_id=str(req["id"]))
        if found:
            return int(found["id"])
        run = await client.create_check_run(
            req["repo"], name=name, head_sha=sha, status="queued", external_id=str(req["id"]),
            output={"title": f"Queued for {env}",
                    "summary": f"Waiting to {req['kind'].replace('_', ' ')} `{sha[:7]}` on "
                               f"**{env}** (position {position})."})
        return int(run["id"])
    except Exception:  # reporting must not lose the request
        log.warning("could not create the check run for request %s", req["id"], exc_info=True)
        return None


async def _deployment(client: InstallationClient, req: RequestRow, production: bool,
                      look_first: bool, links: dict[str, str | None]) -> int | None:
    payload = {"deploybot_request": req["id"]}
    try:
        found = look_first and await client.find_deployment(
            req["repo"], ref=req["commit_sha"], environment=req["environment"], payload=payload)
        if found:
            return int(found["id"])
        result = await client.create_deployment(
            req["repo"], ref=req["commit_sha"], environment=req["environment"],
            production_environment=production, transient_environment=False, payload=payload,
            description=f"{req['kind']} requested by "
                        f"{req['requested_by'] or req['trigger']}")
    except Exception:
        log.warning("could not create the GitHub deployment for request %s", req["id"],
                    exc_info=True)
        return None
    if result.id is None:
        return None
    try:
        await client.create_deployment_status(req["repo"], result.id, state="queued",
                                              description="queued",
                                              log_url=links.get("log_url"),
                                              environment_url=links.get("environment_url"))
    except Exception:
        log.warning("could not mark deployment %s queued", result.id, exc_info=True)
    return int(result.id)


async def _conclude_superseded(ctx: WorkerContext, client: InstallationClient,
                               conn: psycopg.AsyncConnection[Any], old_id: int,
                               new_id: int, environment_url: str | None) -> None:
    old = await requests.get(conn, old_id)
    if old is None:
        return
    try:
        if old["check_run_id"]:
            await client.update_check_run(
                old["repo"], old["check_run_id"], status="completed", conclusion="skipped",
                output=messages.withdrawn_output("superseded", old["requested_by"], new_id))
        if old["gh_deployment_id"]:
            await client.create_deployment_status(
                old["repo"], old["gh_deployment_id"], state="inactive",
                description="replaced by a newer request", log_url=ctx.request_url(new_id),
                environment_url=environment_url)
    except Exception:
        log.warning("could not conclude superseded request %s on GitHub", old_id, exc_info=True)
