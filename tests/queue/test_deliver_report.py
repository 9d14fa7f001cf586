"""deliver_report, called as the reconciler's job would call it: a final report GitHub
still refuses is tried again later, backing off; after a day it is given up, and the
ledger keeps naming what never arrived (the dashboard shows it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from service.ledger import requests
from service.ledger.deployments import Ledger
from tests.app.bot import REPO
from tests.github_server.server import GitHubTestServer
from tests.queue.test_run_request_races import new_request
from workers.jobs.context import WorkerContext
from workers.jobs.deliver_report import CHECK_RUN, FIRST_RETRY_S, deliver_report


async def _finished_with_a_report_due(ctx: WorkerContext, sha: str, installation_id: int,
                                      *, ended_ago: timedelta) -> tuple[int, int]:
    """A succeeded deployment whose check run conclusion GitHub did not take."""
    client = ctx.github.installation(installation_id)
    run = await client.create_check_run(REPO, name="deploybot/staging", head_sha=sha,
                                        status="in_progress")
    rid = await new_request(ctx, sha, installation_id)
    async with ctx.db.connection() as conn:
        ledger = Ledger(conn)
        dep = await ledger.create_deployment(repo=REPO, environment="staging", kind="deploy",
                                             commit_sha=sha)
        await requests.set_github_ids(conn, rid, check_run_id=int(run["id"]))
        assert await requests.start(conn, rid, dep)
        await ledger.finish(dep, status="succeeded")
        await conn.execute("UPDATE ledger.deployments SET finished_at = now() - %s "
                           "WHERE id = %s", (ended_ago, dep))
        await requests.finish(conn, rid)
        await requests.report_later(conn, rid, delay_seconds=0, parts=[CHECK_RUN])
    return rid, int(run["id"])


async def _row(ctx: WorkerContext, rid: int) -> dict[str, Any]:
    async with ctx.db.connection() as conn:
        row = await requests.get(conn, rid)
    assert row is not None
    return row


async def test_a_report_github_still_refuses_is_tried_again_later_backing_off(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    rid, run_id = await _finished_with_a_report_due(
        worker_ctx, world["sha"], github_server.installation_id, ended_ago=timedelta(hours=1))
    github_server.faults.fail("/repos/*/check-runs/*", status=502, times=None, method="PATCH")
    before = datetime.now(UTC)
    result = await deliver_report({"deploybot": worker_ctx}, rid)
    assert result.endswith(f"check_run not delivered; next try in {2 * FIRST_RETRY_S:.0f} s")
    row = await _row(worker_ctx, rid)
    assert row["report_parts"] == [CHECK_RUN] and row["report_attempts"] == 2
    assert row["report_due"] > before + timedelta(seconds=FIRST_RETRY_S)
    assert github_server.state.repo(REPO).check_runs[run_id]["status"] == "in_progress"


async def test_a_report_refused_for_a_day_is_given_up_and_stays_named(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    rid, _ = await _finished_with_a_report_due(
        worker_ctx, world["sha"], github_server.installation_id, ended_ago=timedelta(days=2))
    github_server.faults.fail("/repos/*/check-runs/*", status=502, times=None, method="PATCH")
    assert await deliver_report({"deploybot": worker_ctx}, rid) == f"request {rid}: gave up"
    row = await _row(worker_ctx, rid)
    assert row["report_due"] is None and row["report_parts"] == [CHECK_RUN]
    async with worker_ctx.db.connection() as conn:
        assert await requests.reports_due(conn) == []  # never tried again
        report = await requests.report_of(conn, int(row["deployment_id"]))
    assert report is not None and report["parts"] == [CHECK_RUN] and report["due"] is None
    # once GitHub takes a due report, nothing is left to name
    github_server.faults.clear()
    async with worker_ctx.db.connection() as conn:
        await requests.report_later(conn, rid, delay_seconds=0, parts=[CHECK_RUN])
    assert await deliver_report({"deploybot": worker_ctx}, rid) == (
        f"request {rid}: delivered check_run")
    async with worker_ctx.db.connection() as conn:
        assert await requests.report_of(conn, int(row["deployment_id"])) is None
