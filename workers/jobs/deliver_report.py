"""Job: send a finished deployment's final report that GitHub did not take in time.

The check run's conclusion, the GitHub deployment's last status and the summary comment are
rebuilt from the ledger — the worker that ran the deployment may be long gone — and sent with
the same reporters a live deployment uses. Until they arrive, the request stays due and the
reconciler tries again, backing off from one minute to an hour, for a day."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from service.config.load import ConfigError
from service.ledger import requests
from service.ledger.deployments import Ledger
from service.observability.jobs import observed_job
from workers.github_source import load_config
from workers.jobs.context import WorkerContext
from workers.reporters.github_check_run import CheckRunReporter
from workers.reporters.github_comment import SummaryCommentReporter
from workers.reporters.github_deployment import STATES, DeploymentStatusReporter
from workers.reporters.progress import Progress
from workers.runbook.events import Event, EventKind

log = logging.getLogger(__name__)

FIRST_RETRY_S = 60.0
LONGEST_WAIT_S = 3600.0
GIVE_UP_AFTER = timedelta(days=1)


def next_try_in(attempts: int) -> float:
    """Seconds before the next try, after `attempts` failed ones."""
    return float(min(LONGEST_WAIT_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1)))


@observed_job("request_id")
async def deliver_report(arq_ctx: dict[str, Any], request_id: int) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    async with ctx.db.connection() as conn:
        req = await requests.claim_report(conn, request_id)
        if req is None:
            return f"request {request_id}: no report due"  # delivered, or another job has it
        dep = await Ledger(conn).get(req["deployment_id"]) if req["deployment_id"] else None
    progress = Progress.from_ledger(dep) if dep is not None else None
    if dep is None or progress is None or progress.outcome is None or req["installation_id"] \
            is None:
        async with ctx.db.connection() as conn:
            await requests.reported(conn, request_id)
        return f"request {request_id}: nothing finished to report"
    try:
        await send_final(ctx, req, dep, progress)
    except Exception as exc:
        async with ctx.db.connection() as conn:
            finished = dep["finished_at"] or datetime.now(UTC)
            if datetime.now(UTC) - finished > GIVE_UP_AFTER:
                await requests.reported(conn, request_id)
                log.error("request %s: gave up sending its final report to GitHub after a "
                          "day: %s", request_id, exc)
                return f"request {request_id}: gave up"
            delay = next_try_in(int(req["report_attempts"]) + 1)
            await requests.report_later(conn, request_id, delay_seconds=delay)
        log.warning("request %s: GitHub still did not take the final report (%s); next try "
                    "in %.0f s", request_id, exc, delay)
        return f"request {request_id}: not delivered, next try in {delay:.0f} s"
    async with ctx.db.connection() as conn:
        await requests.reported(conn, request_id)
    return f"request {request_id}: final report delivered"


async def send_final(ctx: WorkerContext, req: dict[str, Any], dep: dict[str, Any],
                     progress: Progress) -> None:
    """Conclude the check run, the GitHub deployment and the summary comment as the ledger
    says the deployment ended. Each is safe to send again."""
    assert progress.outcome is not None
    client = ctx.github.installation(req["installation_id"])
    repo, log_url = req["repo"], ctx.log_url(int(dep["id"]))
    if req["check_run_id"]:
        production_env, has_production = await _production_flags(client, repo,
                                                                  dep["environment"])
        check = CheckRunReporter(client, repo, int(req["check_run_id"]), log_url=log_url,
                                 production_env=production_env,
                                 has_production=has_production)
        check.progress = progress
        await check.publish(final=True)
    if req["gh_deployment_id"]:
        statuses = await client.list_deployment_statuses(repo, int(req["gh_deployment_id"]))
        if not statuses or statuses[0].get("state") != STATES[progress.outcome]:
            await DeploymentStatusReporter(client, repo, int(req["gh_deployment_id"]),
                                           log_url=log_url).emit(
                Event(EventKind.DEPLOYMENT_FINISHED, None, progress.reason,
                      {"outcome": progress.outcome}))
    if req["pr_number"]:
        comment = SummaryCommentReporter(client, repo, int(req["pr_number"]), int(req["id"]),
                                         log_url=log_url)
        comment.progress = progress
        await comment.publish(final=True)


async def _production_flags(client: Any, repo: str, environment: str) -> tuple[bool, bool]:
    """Which buttons the check run offers depends on the configuration on the default
    branch; a configuration broken since then only costs the Promote button."""
    info = await client.get_repo(repo)
    try:
        config = await load_config(client, repo, str(info.get("default_branch") or "main"))
    except ConfigError:
        return False, False
    env = config.environments.get(environment)
    return (bool(env and env.production),
            any(e.production for e in config.environments.values()))
