"""Job: send the parts of a finished deployment's final report GitHub did not take in time.

The check run's conclusion, the GitHub deployment's last status, the escalation (post-mortem
issue and stop-the-line comment) and the summary comment are rebuilt from the ledger — the
worker that ran the deployment may be long gone — and sent by the same reporters a live
deployment uses. Until every part has arrived the request stays due, and the reconciler
tries again, backing off from one minute to an hour, for a day."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from service.config.load import ConfigError
from service.config.model import Config
from service.github.client import InstallationClient
from service.ledger import requests
from service.ledger.deployments import Ledger
from service.ledger.rows import DeploymentWithSteps, RequestRow
from service.observability.jobs import observed_job
from service.retrying import backoff
from workers.gates.promotion import promotion_for
from workers.github_source import load_config
from workers.jobs.context import WorkerContext
from workers.reporters.github_check_run import CheckRunReporter
from workers.reporters.github_comment import SummaryCommentReporter
from workers.reporters.github_deployment import STATES, DeploymentStatusReporter
from workers.reporters.github_escalation import EscalationReporter
from workers.reporters.progress import Progress
from workers.runbook.events import Event, EventKind, Reporter

log = logging.getLogger(__name__)

# The parts, as ledger.requests.report_parts names them; none written down means all.
CHECK_RUN = "check_run"
DEPLOYMENT_STATUS = "deployment_status"
ESCALATION = "escalation"
SUMMARY_COMMENT = "summary_comment"
ALL_PARTS = (CHECK_RUN, DEPLOYMENT_STATUS, ESCALATION, SUMMARY_COMMENT)
assert set(ALL_PARTS) == set(requests.REPORT_PARTS)

FIRST_RETRY_S = 60.0
LONGEST_WAIT_S = 3600.0
GIVE_UP_AFTER = timedelta(days=1)


def next_try_in(attempts: int) -> float:
    """Seconds before the next try, after `attempts` failed ones: the shared backoff formula,
    without jitter (a wait of minutes, scheduled in the queue and shown as it is)."""
    return backoff(max(1, attempts), first=FIRST_RETRY_S, cap=LONGEST_WAIT_S, jitter=0.0)


@observed_job("request_id")
async def deliver_report(arq_ctx: dict[str, Any], request_id: int) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    async with ctx.db.connection() as conn:
        req = await requests.claim_report(conn, request_id)
        if req is None:
            return f"request {request_id}: no report due"  # delivered, or another job has it
        dep = await Ledger(conn).get(req["deployment_id"]) if req["deployment_id"] else None
    progress = Progress.from_ledger(dep) if dep is not None else None
    if progress is None or progress.outcome is None or req["installation_id"] is None:
        async with ctx.db.connection() as conn:
            await requests.reported(conn, request_id)
        return f"request {request_id}: nothing finished to report"
    assert dep is not None
    parts = list(req["report_parts"] or ALL_PARTS)
    missing, error = await send_parts(ctx, req, dep, progress, parts)
    async with ctx.db.connection() as conn:
        if not missing:
            await requests.reported(conn, request_id)
            return f"request {request_id}: delivered {', '.join(parts)}"
        if datetime.now(UTC) - (dep["finished_at"] or datetime.now(UTC)) > GIVE_UP_AFTER:
            await requests.gave_up_reporting(conn, request_id, missing)  # the dashboard says so
            log.error("request %s: gave up sending %s to GitHub after a day: %s",
                      request_id, ", ".join(missing), error)
            return f"request {request_id}: gave up"
        delay = next_try_in(int(req["report_attempts"]) + 1)
        await requests.report_later(conn, request_id, delay_seconds=delay, parts=missing)
    log.warning("request %s: GitHub still did not take %s (%s); next try in %.0f s",
                request_id, ", ".join(missing), error, delay)
    return f"request {request_id}: {', '.join(missing)} not delivered; next try in {delay:.0f} s"


async def send_parts(ctx: WorkerContext, req: RequestRow, dep: DeploymentWithSteps,
                     progress: Progress, parts: list[str]) -> tuple[list[str], str]:
    """Send each part as the ledger says the deployment ended; the parts still missing and
    the first error. Each part is safe to send again."""
    assert progress.outcome is not None
    assert req["installation_id"] is not None  # deliver_report sends nothing without one
    client = ctx.github.installation(req["installation_id"])
    try:
        config = await _config(client, req["repo"])
        reporters = _reporters(ctx, client, req, dep, config, parts)
        if DEPLOYMENT_STATUS in reporters:
            assert req["gh_deployment_id"] is not None  # _reporters made it for one
            statuses = await client.list_deployment_statuses(req["repo"],
                                                             int(req["gh_deployment_id"]))
            if statuses and statuses[0].get("state") == STATES[progress.outcome]:
                del reporters[DEPLOYMENT_STATUS]  # it arrived though its answer did not
    except Exception as exc:  # GitHub still away: nothing could be sent
        return parts, f"{type(exc).__name__}: {exc}"
    event = Event(EventKind.DEPLOYMENT_FINISHED, None, progress.reason, {
        "outcome": progress.outcome, "failed_step": progress.failed_step,
        "stop_the_line": progress.stop_the_line})
    missing, error = [], ""
    for part, reporter in reporters.items():
        if hasattr(reporter, "progress"):
            reporter.progress = Progress.from_ledger(dep)  # its own copy: emit() changes it
        try:
            await reporter.emit(event)
        except Exception as exc:
            missing.append(part)
            error = error or f"{type(exc).__name__}: {exc}"
    return missing, error


async def _config(client: InstallationClient, repo: str) -> Config | None:
    """The configuration on the default branch (None if it is broken now: then the check
    run only lacks its Promote button and the escalation its lead)."""
    info = await client.get_repo(repo)
    try:
        return await load_config(client, repo, str(info.get("default_branch") or "main"))
    except ConfigError:
        return None


def _reporters(ctx: WorkerContext, client: InstallationClient,
               req: RequestRow, dep: DeploymentWithSteps,
               config: Config | None, parts: list[str]) -> dict[str, Reporter]:
    repo, log_url = req["repo"], ctx.log_url(int(dep["id"]))
    env = config.environments.get(dep["environment"]) if config else None
    promotion = promotion_for(ctx, client, config, environment=dep["environment"],
                              kind=dep["kind"], repo=repo, commit=dep["commit_sha"],
                              pr_number=req["pr_number"])
    out: dict[str, Reporter] = {}
    if CHECK_RUN in parts and req["check_run_id"]:
        out[CHECK_RUN] = CheckRunReporter(
            client, repo, int(req["check_run_id"]), log_url=log_url, promotion=promotion,
            resumed=True)
    if DEPLOYMENT_STATUS in parts and req["gh_deployment_id"]:
        out[DEPLOYMENT_STATUS] = DeploymentStatusReporter(
            client, repo, int(req["gh_deployment_id"]), log_url=log_url,
            environment_url=ctx.environment_url(repo, env, dep["environment"]))
    if ESCALATION in parts:
        escalation = EscalationReporter(
            client, repo, deployment_id=int(dep["id"]), pr_number=req["pr_number"],
            requested_by=req["requested_by"], lead=env.lead if env else None,
            production=bool(env and env.production), log_url=log_url)
        escalation.look_first = True  # the issue may be there already
        out[ESCALATION] = escalation
    if SUMMARY_COMMENT in parts and req["pr_number"]:
        out[SUMMARY_COMMENT] = SummaryCommentReporter(
            client, repo, int(req["pr_number"]), int(req["id"]), log_url=log_url,
            check_run_id=req["check_run_id"], promotion=promotion)
    return out
