"""Cron job: rebuild the queue from PostgreSQL and free what dead workers left behind.

Redis may lose work and workers may die; PostgreSQL knows what was accepted. Every run:
deliveries acknowledged but never handled are enqueued again; each environment's oldest
queued request gets a job; leases whose holder stopped renewing are recovered."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service import queue
from service.config.model import Config
from service.github.client import InstallationClient
from service.ledger import deliveries, leases, requests
from service.ledger.deployments import Ledger
from service.ledger.rows import DeploymentWithSteps, LeaseRow, RequestRow
from service.observability.jobs import observed_job
from workers import messages
from workers.jobs.context import WorkerContext
from workers.jobs.deliver_report import (
    ALL_PARTS,
    CHECK_RUN,
    DEPLOYMENT_STATUS,
    ESCALATION,
    FIRST_RETRY_S,
    SUMMARY_COMMENT,
)
from workers.jobs.run_request import kick_next
from workers.jobs.watch import start_watch
from workers.recovery import recover_deployment
from workers.reporters import markdown
from workers.reporters.github_check_run import RETRY
from workers.reporters.github_escalation import should_escalate
from workers.reporters.progress import Progress
from workers.runbook.events import Outcome

log = logging.getLogger(__name__)

WORKER_STOPPED = "worker stopped"


@observed_job()
async def reconcile(arq_ctx: dict[str, Any]) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    async with ctx.db.connection() as conn:
        lost = await deliveries.unprocessed(conn, ctx.reconcile_grace)
        stale = await requests.stale_queued(conn, ctx.reconcile_grace)
        dead = await leases.expired(conn)
        reports = await requests.reports_due(conn)
    for req in reports:
        await queue.enqueue(ctx.redis, ctx.prefix, "deliver_report",
                            report_job_id(ctx.prefix, req["id"], req["report_attempts"]),
                            req["id"])
    for delivery_id in lost:
        await queue.enqueue(ctx.redis, ctx.prefix, "handle_delivery",
                            queue.delivery_job_id(ctx.prefix, delivery_id), delivery_id)
    recovered = 0
    for lease in dead:
        if await recover(ctx, lease):
            recovered += 1
    for req in stale:
        await kick_next(ctx, req["repo"], req["environment"])
    return (f"re-enqueued {len(lost)} deliveries, kicked {len(stale)} queues, "
            f"recovered {recovered} leases, resent {len(reports)} reports")


async def recover(ctx: WorkerContext, lease: LeaseRow) -> bool:
    """A worker died holding a lease: conclude its run honestly and free the environment."""
    async with ctx.db.connection() as conn:
        taken = await leases.acquire(conn, lease["repo"], lease["environment"],
                                     holder=ctx.worker_id, request_id=lease["request_id"],
                                     ttl=ctx.lease_ttl)
        if taken is None:
            return False  # someone else recovered it first
        finished: tuple[RequestRow, int, Config | None] | None = None
        report_now: RequestRow | None = None  # a request whose report is due at once
        req = await requests.get(conn, lease["request_id"]) if lease["request_id"] else None
        if req is not None and req["status"] == "running":
            ledger = Ledger(conn)
            dep = await ledger.get(req["deployment_id"]) if req["deployment_id"] else None
            if dep is not None and dep["status"] in ("queued", "running"):
                outcome, config = await _recover_run(ctx, ledger, req, dep)
                if outcome is Outcome.SUCCEEDED:  # finished (only `report` was left)
                    await requests.finish(conn, req["id"])
                    await requests.report_later(conn, req["id"], delay_seconds=0,
                                                parts=list(ALL_PARTS))
                    finished, report_now = (req, int(dep["id"]), config), req
                else:
                    fresh = await ledger.get(dep["id"])
                    assert fresh is not None
                    stop = await _conclude(ledger, fresh, outcome, before=dep)
                    await requests.finish(conn, req["id"], note=stop.reason)
                    dep = await ledger.get(dep["id"])
                    assert dep is not None
                    if await _report_abandoned(ctx, req, dep, stop, config):
                        report_now = req  # its escalation: a person is needed
            else:  # it died after concluding the deployment: its reports may not be out
                await requests.finish(conn, req["id"])
                if dep is not None:
                    await requests.report_later(conn, req["id"], delay_seconds=0,
                                                parts=list(ALL_PARTS))
        await leases.release(conn, taken)
    if report_now is not None:
        # Sent at once rather than at the reconciler's next turn, under the job id that
        # turn would give this try (report_later counted it), so it runs once.
        await queue.enqueue(ctx.redis, ctx.prefix, "deliver_report",
                            report_job_id(ctx.prefix, report_now["id"],
                                          report_now["report_attempts"] + 1), report_now["id"])
    if finished is not None:
        done_req, deployment_id, config = finished
        if config is not None:
            await start_watch(ctx, done_req, deployment_id, config)  # never raises
    await kick_next(ctx, lease["repo"], lease["environment"])
    return True


def report_job_id(prefix: str, request_id: int, attempt: int) -> str:
    """One job per try: a try's job id stays taken while arq keeps its result."""
    return f"{prefix}report:{request_id}:{attempt}"


@dataclass(frozen=True)
class Stopped:
    reason: str  # for people: where it stopped and what state the environment may be in
    where: str
    step: str | None


async def _recover_run(ctx: WorkerContext, ledger: Ledger, req: RequestRow,
                dep: DeploymentWithSteps) -> tuple[Outcome | None, Config | None]:
    """Put the environment back as it was from the dead run's journal, or finish the run
    where only `report` was left (None: not tried); and the configuration it ran under."""
    if req["kind"] == "dry_run" or req["installation_id"] is None:
        return None, None
    try:
        return await recover_deployment(ctx, ledger, req, dep)
    except Exception:
        log.exception("recovering deployment %s failed", dep["id"])
        return Outcome.ROLLBACK_FAILED, None


async def _conclude(ledger: Ledger, dep: DeploymentWithSteps, outcome: Outcome | None = None,
                    before: DeploymentWithSteps | None = None) -> Stopped:
    """Mark the dead run's steps and the deployment concluded, saying where it stopped and
    what recovery did: the ledger (history, dashboard) must not show a step running
    forever."""
    steps = (before or dep)["steps"]
    undoing = next((s["name"] for s in steps if s["undo_status"] == "running"), None)
    running = next((s["name"] for s in steps if s["status"] == "running"), None)
    done = [s["name"] for s in steps if s["status"] in ("succeeded", "failed")]
    if undoing:
        where = f"while undoing step `{undoing}`"
    elif running:
        where = f"during step `{running}`"
    elif done:
        where = f"after step `{done[-1]}`"
    else:
        where = "before its first step"
    env = dep["environment"]
    status = "failed"
    if outcome is Outcome.ROLLED_BACK:
        status = "rolled_back"
        tail = f"deploybot rolled `{env}` back: it is as it was before the deployment."
    elif outcome is Outcome.ROLLBACK_FAILED:
        status = "rollback_failed"
        tail = (f"deploybot could not roll `{env}` back: it may be partly changed — a person "
                "is needed before deploying again.")
    elif outcome is Outcome.FAILED or not (undoing or running or done):
        tail = "Nothing had been changed."
    else:
        tail = (f"Nothing was undone: `{env}` may be partly changed — check it before "
                "deploying again.")
    reason = (f"the worker running this deployment stopped {where}; deploybot recovered the "
              f"lease. {tail}")
    now = datetime.now(UTC)
    for s in dep["steps"]:
        if s["status"] == "running":
            await ledger.update_step(dep["id"], s["name"], status="failed", finished_at=now,
                                     message="the worker stopped")
        elif s["status"] == "pending":
            await ledger.update_step(dep["id"], s["name"], status="skipped",
                                     message="not run: the worker stopped")
        if s["undo_status"] == "running":
            await ledger.update_step(dep["id"], s["name"], undo_status="undo_failed",
                                     undo_message="the worker stopped")
    step = undoing or running
    await ledger.finish(dep["id"], status=status, failed_step=step, reason=reason,
                        stop_the_line=WORKER_STOPPED)
    return Stopped(reason, where, step)


def _summary(dep: DeploymentWithSteps, stop: Stopped, log_url: str | None) -> str:
    """The dead run as the check run and the PR's summary comment show it."""
    progress = Progress.from_ledger(dep)
    parts = [f"### ⚠️ Deploying `{dep['commit_sha'][:7]}` to **{dep['environment']}** "
             f"stopped {stop.where}: its worker died",
             markdown.step_table(progress),
             f"**Why:** {stop.reason} _(stop-the-line: {WORKER_STOPPED})_"]
    if log_url:
        parts.append(f"[Full log]({log_url})")
    return "\n\n".join(parts)


async def _report_abandoned(ctx: WorkerContext, req: RequestRow, dep: DeploymentWithSteps,
                            stop: Stopped, config: Config | None) -> bool:
    """Conclude the dead run on GitHub; whether it must also be escalated now (written down
    as due at once: deliver_report sends the post-mortem issue and the incident summary,
    as it does when GitHub refused them to a live run)."""
    if req["installation_id"] is None:
        return False
    client = ctx.github.installation(req["installation_id"])
    summary = _summary(dep, stop, ctx.log_url(dep["id"]))
    env = config.environments.get(dep["environment"]) if config else None
    missing = await _send_abandoned(ctx, client, req, dep, stop, summary,
                                    ctx.environment_url(req["repo"], env, dep["environment"]))
    escalate = should_escalate(Progress.from_ledger(dep),
                               production=bool(env and env.production),
                               lead=env.lead if env else None)
    if escalate:
        async with ctx.db.connection() as conn:
            await requests.report_later(conn, req["id"], delay_seconds=0,
                                        parts=[*missing, ESCALATION])
    elif missing:
        # GitHub is away longer than the client retries: the ledger's account goes out later
        log.warning("request %s: GitHub did not take %s for the stopped worker; sending "
                    "again in %.0f s", req["id"], ", ".join(missing), FIRST_RETRY_S)
        async with ctx.db.connection() as conn:
            await requests.report_later(conn, req["id"], delay_seconds=FIRST_RETRY_S,
                                        parts=missing)
    return escalate


async def _send_abandoned(ctx: WorkerContext, client: InstallationClient, req: RequestRow,
                          dep: DeploymentWithSteps, stop: Stopped, summary: str,
                          environment_url: str | None) -> list[str]:
    """Conclude the check run, the GitHub deployment and the summary comment, each tried
    even when one before it failed; the parts GitHub did not take."""
    repo = req["repo"]
    missing: list[str] = []
    if req["check_run_id"]:
        try:
            await client.update_check_run(repo, req["check_run_id"], status="completed",
                                          conclusion="failure", actions=[RETRY],
                                          output={"title": "Worker stopped",
                                                  "summary": summary})
        except Exception:
            log.warning("concluding check run %s failed", req["check_run_id"], exc_info=True)
            missing.append(CHECK_RUN)
    if req["gh_deployment_id"]:
        try:
            await client.create_deployment_status(
                repo, req["gh_deployment_id"], state="error", log_url=ctx.log_url(dep["id"]),
                environment_url=environment_url,
                description=f"the worker stopped {stop.where}"[:140])
        except Exception:
            log.warning("concluding deployment %s failed", req["gh_deployment_id"],
                        exc_info=True)
            missing.append(DEPLOYMENT_STATUS)
    if req["pr_number"]:  # the summary comment must not say "Deploying" forever
        try:
            marker = messages.deployment_marker(req["id"])
            for comment in await client.list_comments(repo, req["pr_number"]):
                if marker in (comment.get("body") or ""):
                    await client.update_comment(repo, int(comment["id"]),
                                                f"{marker}\n\n{summary}")
                    break
        except Exception:
            log.warning("updating the summary comment failed", exc_info=True)
            missing.append(SUMMARY_COMMENT)
    return missing
