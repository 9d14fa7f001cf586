"""Accept a deployment request: record it, show it on GitHub as queued, enqueue it.

Every way in — a comment, a merge, a push, a check-run button — comes through here, so a
request is recorded, reported and queued the same way whoever made it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from service import queue
from service.config.model import Config
from service.ledger import requests
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


async def accept(ctx: WorkerContext, client: Any, config: Config,
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
        return Accepted(created.id, position, running, True, [])
    env = config.environment(new.environment)
    check_id = gh_dep_id = None
    try:
        run = await client.create_check_run(
            new.repo, name=check_run_name(new.environment), head_sha=new.commit_sha,
            status="queued", external_id=str(created.id),
            output={"title": f"Queued for {new.environment}",
                    "summary": f"Waiting to {new.kind.replace('_', ' ')} "
                               f"`{new.commit_sha[:7]}` on **{new.environment}** "
                               f"(position {position})."})
        check_id = int(run["id"])
    except Exception:  # reporting must not lose the request
        log.warning("could not create the check run for request %s", created.id, exc_info=True)
    if new.kind != "dry_run":
        try:
            result = await client.create_deployment(
                new.repo, ref=new.commit_sha, environment=new.environment,
                production_environment=bool(env and env.production),
                transient_environment=False, payload={"deploybot_request": created.id},
                description=f"{new.kind} requested by {new.requested_by or new.trigger}")
            if result.id is not None:
                gh_dep_id = result.id
                await client.create_deployment_status(new.repo, gh_dep_id, state="queued",
                                                      description="queued")
        except Exception:
            log.warning("could not create the GitHub deployment for request %s", created.id,
                        exc_info=True)
    async with ctx.db.connection() as conn:
        await requests.set_github_ids(conn, created.id, check_run_id=check_id,
                                      gh_deployment_id=gh_dep_id)
        for old in created.superseded:
            await _conclude_superseded(ctx, client, conn, old, created.id)
    await queue.enqueue(ctx.redis, ctx.prefix, "run_request",
                        queue.request_job_id(ctx.prefix, created.id), created.id)
    return Accepted(created.id, position, running, False, created.superseded)


async def _conclude_superseded(ctx: WorkerContext, client: Any, conn: Any, old_id: int,
                               new_id: int) -> None:
    old = await requests.get(conn, old_id)
    if old is None:
        return
    try:
        if old["check_run_id"]:
            await client.update_check_run(
                old["repo"], old["check_run_id"], status="completed", conclusion="skipped",
                output={"title": "Replaced by a newer request",
                        "summary": f"A newer request (#{new_id}) from the same pull request "
                                   "replaced this queued one."})
        if old["gh_deployment_id"]:
            await client.create_deployment_status(old["repo"], old["gh_deployment_id"],
                                                  state="inactive",
                                                  description="replaced by a newer request")
    except Exception:
        log.warning("could not conclude superseded request %s on GitHub", old_id, exc_info=True)
