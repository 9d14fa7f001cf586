"""What a breach does: mark the deployment (ledger details, a `failure` deployment status
naming the breach, the check run's Watch section), comment on the pull request mentioning
the environment's lead, and either request a rollback (auto rollback on) or offer a Roll
back button (off).

Every action is safe to repeat: the rollback request is keyed by the watch (a second
accept() finds it), the comment by its marker, the check run section replaces itself; and
each report done is noted, so a retry makes only the ones that failed. The breach counts
as handled when all of them went through; until then the resume cron tries again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from service.github.client import InstallationClient
from service.ledger import requests, watches
from service.ledger.deployments import Ledger
from service.ledger.rows import WatchRow
from workers.accept import accept
from workers.jobs.context import WorkerContext
from workers.reporters.github_check_run import ROLLBACK
from workers.watch import messages
from workers.watch.report import add_section
from workers.watch.stored_config import as_config, from_json

log = logging.getLogger(__name__)


def rollback_delivery_id(deployment_id: int) -> str:
    """The key of the rollback a watch requests: one per watched deployment."""
    return f"watch:{deployment_id}"


async def handle_breach(ctx: WorkerContext, watch: WatchRow) -> str:
    dep_id = int(watch["deployment_id"])
    env, paths = from_json(watch["config"])
    async with ctx.db.connection() as conn:
        found = await watches.breach(conn, dep_id)
        if found is None or found["handled_at"] is not None:
            return "breach already handled"
        ledger = Ledger(conn)
        dep = await ledger.get(dep_id)
        req = await requests.get(conn, watch["request_id"]) if watch["request_id"] else None
        samples = await watches.samples(conn, dep_id)
        await ledger.merge_details(dep_id, {"watch": {
            "status": "breached", "summary": found["summary"], "sample": found["seq"],
            "breaches": found["breaches"]}})
    if dep is None or watch["installation_id"] is None:
        return "breach recorded; no GitHub installation to report to"
    client = ctx.github.installation(int(watch["installation_id"]))
    repo, summary = watch["repo"], str(found["summary"])
    rollback_id = found["rollback_request_id"]
    if found["auto_rollback"] and rollback_id is None:
        # No pull request number: accept() would replace that PR's queued requests with
        # this one, and a fix queued meanwhile must not be dropped for a rollback.
        accepted = await accept(ctx, client, as_config(env, paths), requests.NewRequest(
            repo=repo, environment=env.name, kind="rollback", commit_sha=dep["commit_sha"],
            trigger="watch", installation_id=int(watch["installation_id"]),
            ref=dep["ref"] or None, requested_by=None,
            delivery_id=rollback_delivery_id(dep_id), rollback_target=dep_id))
        rollback_id = accepted.request_id
        async with ctx.db.connection() as conn:
            await watches.set_rollback_request(conn, dep_id, rollback_id)
    log_url = ctx.log_url(dep_id)
    reports: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    if req is not None and (gh_deployment_id := req["gh_deployment_id"]):
        reports.append(("deployment status", lambda: client.create_deployment_status(
            repo, int(gh_deployment_id), state="failure", log_url=log_url,
            environment_url=ctx.environment_url(repo, env, env.name),
            description=f"watch: {summary}")))
    if req is not None and (check_run_id := req["check_run_id"]):
        section = messages.breach_section(
            summary=summary, seq=int(found["seq"]), at=found["at"], cfg=env.watch,
            environment=env.name, deployment_id=dep_id, rollback_request=rollback_id,
            samples=samples)
        # Failure, and no "Deploy to production": a commit that breached on its way is not
        # promoted with one click. The Roll back button only where no rollback is on its
        # way already.
        reports.append(("check run", lambda: add_section(
            client, repo, int(check_run_id), section, title=f"Watch: {summary}",
            conclusion="failure", actions=[] if env.watch.auto_rollback else [ROLLBACK])))
    if pr_number := dep["pr_number"]:
        body = messages.breach_comment(
            deployment_id=dep_id, environment=env.name, commit=dep["commit_sha"],
            summary_items=[b["text"] for b in found["breaches"]], cfg=env.watch,
            lead=env.lead, rollback_request=rollback_id, samples=samples, log_url=log_url)
        reports.append(("comment", lambda: _comment(
            client, repo, int(pr_number), messages.comment_marker(dep_id), body)))
    failed: list[str] = []
    for name, report in reports:
        if name in found["reported"]:
            continue  # done by an earlier try
        try:
            await report()
        except Exception:
            failed.append(name)
            log.warning("watch of deployment %s: the %s failed", dep_id, name, exc_info=True)
            continue
        async with ctx.db.connection() as conn:
            await watches.add_reported(conn, dep_id, name)
    if not failed:
        async with ctx.db.connection() as conn:
            await watches.mark_handled(conn, dep_id)
    action = f"rollback request {rollback_id}" if rollback_id else "Roll back offered"
    retry = f"; will retry: {', '.join(failed)}" if failed else ""
    return f"breach: {summary}; {action}{retry}"


async def _comment(client: InstallationClient,
                   repo: str, pr_number: int, marker: str, body: str) -> None:
    """One breach comment per deployment: a retry edits the one it wrote before."""
    for comment in await client.list_comments(repo, pr_number):
        if marker in (comment.get("body") or ""):
            await client.update_comment(repo, int(comment["id"]), body)
            return
    await client.create_comment(repo, pr_number, body)
