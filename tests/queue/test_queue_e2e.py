"""The request queue and the environment lease, end to end: comments through the real
webhook endpoint, real arq workers (two racing in this process, or one in a process of its
own that gets killed), real Redis and PostgreSQL, the test GitHub server. Deployments run an
injected plan (WorkerContext.plan) so the tests exercise the queue machinery, not the
runbook."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from functools import partial
from pathlib import Path
from typing import Any

from tests.app.bot import REPO, post_comment, requests_settled
from tests.github_server.server import GitHubTestServer
from tests.polling import wait_for
from tests.queue.plans import gated, sleeping
from tests.queue.support import USERS, QueueBot, queue_bot, replies

FINAL_DEPLOYMENT_STATES = {"success", "failure", "error", "inactive"}


async def comment(bot: QueueBot, pr: int, body: str = "/deploy staging",
                  user: str | None = None) -> None:
    await bot.send("issue_comment",
                   post_comment(bot.github, body, pr=pr, user=user or USERS[pr]))


async def requests_of(bot: QueueBot) -> list[dict[str, Any]]:
    return await bot.fetch("SELECT * FROM ledger.requests ORDER BY id")


async def status_of(bot: QueueBot, pr: int, status: str) -> list[dict[str, Any]]:
    return await bot.fetch("SELECT * FROM ledger.requests WHERE pr_number = %s "
                           "AND status = %s ORDER BY id", pr, status)


async def reply_on(bot: QueueBot, pr: int, text: str) -> str | None:
    await asyncio.sleep(0)
    return next((r for r in replies(bot.github, pr) if text in r), None)


async def summary_on(bot: QueueBot, pr: int) -> str | None:
    await asyncio.sleep(0)
    return next((c["body"] for c in bot.github.state.repo(REPO).comments_on(pr)
                 if "deploybot:deployment:" in c["body"]), None)


async def all_finished(bot: QueueBot) -> bool:
    return requests_settled(bot.database_url)


def assert_one_at_a_time(runs: list[dict[str, Any]]) -> None:
    """[started_at, finished_at] intervals, in start order, never overlap."""
    runs = sorted(runs, key=lambda r: r["started_at"])
    for before, after in itertools.pairwise(runs):
        assert before["finished_at"] <= after["started_at"], (before["id"], after["id"])


def check_run(github: GitHubTestServer, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = github.state.repo(REPO).check_runs[run_id]
    return run


def deployment_states(github: GitHubTestServer, gh_deployment_id: int) -> list[str]:
    return [s["state"] for s in github.state.repo(REPO).deployment_statuses[gh_deployment_id]]


def assert_nothing_in_progress(github: GitHubTestServer) -> None:
    repo = github.state.repo(REPO)
    assert [r["id"] for r in repo.check_runs.values() if r["status"] != "completed"] == []
    for dep_id in repo.deployments:
        assert deployment_states(github, dep_id)[-1] in FINAL_DEPLOYMENT_STATES, dep_id


async def test_a_busy_environment_runs_queued_requests_strictly_in_order(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    gate = asyncio.Event()
    async with queue_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        for _ in range(2):  # two workers race for every job and the lease
            bot.start_worker(gated(gate, 0.3))
        await comment(bot, 10)
        await wait_for(lambda: status_of(bot, 10, "running"), what="#10 to start")
        for pr in (11, 12, 13):  # one after another, so their queue order is known
            await comment(bot, pr)
            await wait_for(partial(reply_on, bot, pr, "queued at position"),
                        what=f"the queue reply on #{pr}")
        gate.set()
        await wait_for(lambda: all_finished(bot), what="every request to run")
        rows = await requests_of(bot)
        deployments = await bot.fetch("SELECT * FROM ledger.deployments ORDER BY id")

    short = world["sha"][:7]
    for position, pr in enumerate((11, 12, 13), start=2):
        [text] = replies(github_server, pr)
        assert f"@{USERS[pr]} `staging` is busy: your request is queued at position " \
               f"**{position}**" in text
        assert f"now running: deploy of `{short}` from #10" in text
    assert [(r["pr_number"], r["status"]) for r in rows] == [
        (10, "done"), (11, "done"), (12, "done"), (13, "done")]
    # strictly in order, never two at once: by the requests and by their deployments
    assert [r["pr_number"] for r in sorted(rows, key=lambda r: r["started_at"])] == [
        10, 11, 12, 13]
    assert_one_at_a_time(rows)
    assert [d["id"] for d in deployments] == [r["deployment_id"] for r in rows]
    assert [d["status"] for d in deployments] == ["succeeded"] * 4
    assert_one_at_a_time(deployments)
    for r in rows:
        run = check_run(github_server, r["check_run_id"])
        assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert_nothing_in_progress(github_server)
    github_server.assert_no_validation_errors()


async def test_cancel_withdraws_ones_own_request_and_a_newer_one_replaces_the_queued_one(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    gate = asyncio.Event()
    async with queue_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        bot.start_worker(gated(gate, 0.1))
        await comment(bot, 10)
        await wait_for(lambda: status_of(bot, 10, "running"), what="#10 to start")
        for pr in (11, 12):
            await comment(bot, pr)
            await wait_for(partial(reply_on, bot, pr, "queued at position"),
                        what=f"the queue reply on #{pr}")
        # alice cannot withdraw bob's request
        await comment(bot, 11, "/cancel", user="alice")
        await wait_for(lambda: reply_on(bot, 11, "no queued request"), what="the refusal")
        assert await status_of(bot, 11, "queued")
        # carol withdraws her own
        await comment(bot, 12, "/cancel")
        await wait_for(lambda: reply_on(bot, 12, "withdrawn"), what="the cancel reply")
        # bob asks again: his newer request replaces the queued one
        [older] = await status_of(bot, 11, "queued")
        await comment(bot, 11)
        await wait_for(lambda: status_of(bot, 11, "superseded"), what="#11's old request to go")
        # the same delivery then concludes the old check run and replies: let it finish
        await wait_for(lambda: bot.fetch(
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger.deliveries "
            "WHERE status <> 'processed')"), what="every comment to be handled")
        gate.set()
        await wait_for(lambda: all_finished(bot), what="the queue to drain")
        rows = await requests_of(bot)
        deployments = await bot.fetch("SELECT * FROM ledger.deployments ORDER BY id")

    assert [(r["pr_number"], r["status"]) for r in rows] == [
        (10, "done"), (11, "superseded"), (12, "cancelled"), (11, "done")]
    assert rows[1]["id"] == older["id"]
    assert "withdrawn: deployment to `staging`" in replies(github_server, 12)[-1]
    # the replacement waits only behind #10: the withdrawn and replaced ones do not count
    assert "queued at position **2**" in replies(github_server, 11)[-1]
    assert [r["deployment_id"] is None for r in rows] == [False, True, True, False]
    assert [d["id"] for d in deployments] == [rows[0]["deployment_id"],
                                              rows[3]["deployment_id"]]
    assert_one_at_a_time(deployments)
    replaced, cancelled = (check_run(github_server, r["check_run_id"]) for r in rows[1:3])
    assert (replaced["conclusion"], replaced["output"]["title"]) == (
        "skipped", "Replaced by a newer request")
    assert (cancelled["conclusion"], cancelled["output"]["title"]) == ("cancelled", "Cancelled")
    for r in rows[1:3]:
        assert deployment_states(github_server, r["gh_deployment_id"]) == ["queued", "inactive"]
    for r in (rows[0], rows[3]):
        assert check_run(github_server, r["check_run_id"])["conclusion"] == "success"
    assert_nothing_in_progress(github_server)
    github_server.assert_no_validation_errors()


async def test_a_worker_killed_holding_the_lease_is_recovered_and_the_queue_moves_on(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer,
        tmp_path: Path) -> None:
    ttl = 3.0
    async with queue_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        # A worker process whose deployment would take two minutes; it alone takes #10.
        proc, doomed = await bot.spawn_worker(step_seconds=120, lease_ttl=ttl,
                                              log=tmp_path / "worker.log")
        try:
            await comment(bot, 10)
            await wait_for(lambda: bot.fetch(
                "SELECT 1 FROM ledger.leases l JOIN ledger.requests r ON r.id = l.request_id "
                "WHERE r.pr_number = 10 AND r.status = 'running' AND l.holder = %s", doomed),
                what="the worker process to hold staging's lease for #10")
            await wait_for(lambda: bot.fetch(
                "SELECT 1 FROM ledger.deployment_steps WHERE status = 'running'"),
                what="#10's step to start")
            await wait_for(partial(summary_on, bot, 10),
                        what="#10's summary comment")  # posted in the background
            # A second worker, in this process, with the reconciler every second.
            bot.start_worker(sleeping(0.1), lease_ttl=ttl, reconcile_every=1)
            await comment(bot, 11)
            await wait_for(lambda: reply_on(bot, 11, "queued at position **2**"),
                        what="#11 to queue")
            await wait_for(lambda: bot.fetch(
                "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger.deliveries "
                "WHERE status <> 'processed')"), what="both comments to be handled")
            os.kill(proc.pid, signal.SIGKILL)
            assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await wait_for(lambda: all_finished(bot), what="the reconciler to recover the lease")
        rows = await requests_of(bot)
        deployments = await bot.fetch("SELECT * FROM ledger.deployments ORDER BY id")
        steps = await bot.fetch("SELECT * FROM ledger.deployment_steps ORDER BY deployment_id")
        leases = await bot.fetch("SELECT * FROM ledger.leases")

    dead, nxt = rows
    assert (dead["pr_number"], dead["status"]) == (10, "done")
    assert (nxt["pr_number"], nxt["status"]) == (11, "done")
    assert [(d["id"], d["status"]) for d in deployments] == [
        (dead["deployment_id"], "failed"), (nxt["deployment_id"], "succeeded")]
    failed = deployments[0]
    # the injected step has no undo: recovery finds nothing it changed
    reason = ("the worker running this deployment stopped during step `work`; deploybot "
              "recovered the lease. Nothing had been changed.")
    assert (failed["reason"], failed["failed_step"], failed["stop_the_line"]) == (
        reason, "work", "worker stopped")
    assert dead["note"] == reason
    # the next request started only once the dead one was concluded
    assert failed["finished_at"] <= nxt["started_at"]
    assert_one_at_a_time(rows)
    # the dead run reads as stopped everywhere a person looks
    assert [(s["deployment_id"], s["status"], s["message"]) for s in steps] == [
        (failed["id"], "failed", "the worker stopped"), (nxt["deployment_id"], "succeeded", "")]
    run = check_run(github_server, dead["check_run_id"])
    assert (run["status"], run["conclusion"], run["output"]["title"]) == (
        "completed", "failure", "Worker stopped")
    assert reason in run["output"]["summary"]
    assert [a["identifier"] for a in run["actions"]] == ["retry"]
    [summary] = [c["body"] for c in github_server.state.repo(REPO).comments_on(10)
                 if "deploybot:deployment:" in c["body"]]
    assert "stopped during step `work`: its worker died" in summary
    assert "🔄" not in summary and "⏳" not in summary
    # error, then inactive once #11's deployment succeeded on the same environment
    assert deployment_states(github_server, dead["gh_deployment_id"]) == [
        "queued", "in_progress", "error", "inactive"]
    assert check_run(github_server, nxt["check_run_id"])["conclusion"] == "success"
    # nothing left running anywhere: ledger, lease, GitHub
    assert leases == []
    assert_nothing_in_progress(github_server)
    github_server.assert_no_validation_errors()
