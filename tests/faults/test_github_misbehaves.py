"""GitHub misbehaving (5xx, 429 with Retry-After, secondary rate limits) never stops a
deployment: the environment is deployed, and every report is retried until it arrives."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer


async def test_a_deployment_completes_and_reports_arrive_despite_github(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    state, faults = github_server.state, github_server.faults
    state.add_pull(REPO, 81, head_sha=sha, user_login="alice")
    faults.fail("/repos/*/check-runs/*", status=502, times=3, method="PATCH")
    faults.rate_limit("/repos/*/issues/comments/*/reactions", retry_after=1, times=2)
    faults.fail("/repos/*/deployments/*/statuses", status=503, times=2)
    faults.secondary_rate_limit("/repos/*/issues/*/comments", retry_after=1, times=1)
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        payload = post_comment(github_server, "/deploy staging", pr=81)
        await bot.send("issue_comment", payload)
        run = await wait_for(lambda: [r for r in state.repo(REPO).check_runs.values()
                                      if r.get("status") == "completed"], what="the check run")
        comment_id = payload["comment"]["id"]
        await wait_for(lambda: [r["content"] for r in
                                state.repo(REPO).reactions.get(comment_id, [])] == [
            "eyes", "rocket"], what="both reactions")
    assert run[0]["conclusion"] == "success", run[0]["output"]["summary"]
    deployment = next(iter(state.repo(REPO).deployments.values()))
    assert [s["state"] for s in state.repo(REPO).deployment_statuses[deployment["id"]]] == [
        "queued", "in_progress", "success"]
    assert any("deploybot:deployment:" in c["body"] for c in state.repo(REPO).comments_on(81))
    statuses = {r.status for r in github_server.requests}
    assert {502, 503, 429, 403} <= statuses  # every fault was really served
    assert_fully_migrated(world["staging"])
    github_server.assert_no_validation_errors()


async def test_github_timeouts_delay_reports_but_never_double_them(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    """GitHub answering too slowly, on the writes a deployment makes: the check run, the
    deployment and the summary comment are created by GitHub although their answers never
    reach the bot — they exist once each — and updates that timed out are sent again."""
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    state, faults = github_server.state, github_server.faults
    state.add_pull(REPO, 82, head_sha=sha, user_login="alice")
    late = 3.0  # the bot gives up after 1 s
    faults.answer_late("/repos/*/check-runs", seconds=late, method="POST")
    faults.answer_late("/repos/*/deployments", seconds=late, method="POST")
    faults.answer_late("/repos/*/issues/82/comments", seconds=late, method="POST")
    faults.delay("/repos/*/check-runs/*", seconds=late, times=2, method="PATCH")
    faults.delay("/repos/*/deployments/*/statuses", seconds=late, times=2)
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           github_timeout=1.0) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=82))
        run = await wait_for(lambda: [r for r in state.repo(REPO).check_runs.values()
                                      if r.get("status") == "completed"], what="the check run")
        await wait_for(lambda: [d for d in state.repo(REPO).deployment_statuses.values()
                                if d and d[-1]["state"] == "success"], what="the success")
        await wait_for(lambda: [c for c in state.repo(REPO).comments_on(82)
                                if "Deployed" in c["body"]], what="the final summary")
    repo = state.repo(REPO)
    assert len(repo.check_runs) == 1 and run[0]["conclusion"] == "success"
    assert len(repo.deployments) == 1
    deployment = next(iter(repo.deployments))
    assert [s["state"] for s in repo.deployment_statuses[deployment]] == [
        "queued", "in_progress", "success"]
    summaries = [c for c in repo.comments_on(82) if "deploybot:deployment:" in c["body"]]
    assert len(summaries) == 1 and "Deployed" in summaries[0]["body"]
    timed_out = [r for r in github_server.requests
                 if r.fault and ("late" in r.fault or r.fault.startswith("delay"))]
    assert len(timed_out) >= 5  # every fault was really served
    assert_fully_migrated(world["staging"])
    github_server.assert_no_validation_errors()


async def test_final_reports_github_refused_for_longer_than_the_retries_arrive_later(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    """GitHub down (502 on every try) from the start of the deployment to after its end:
    the client's retries run out, so the check run, the deployment status and the summary
    comment are written down as due; once GitHub is back, the reconciler sends them from the
    ledger. Nothing stays `in_progress`."""
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    state, faults = github_server.state, github_server.faults
    state.add_pull(REPO, 83, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=83))
        await wait_for(lambda: [r for r in state.repo(REPO).check_runs.values()
                                if r.get("status") == "in_progress"], what="the deployment")
        outage = [faults.fail("/repos/*/check-runs/*", status=502, times=None, method="PATCH"),
                  faults.fail("/repos/*/deployments/*/statuses", status=502, times=None),
                  faults.fail("/repos/*/issues/comments/*", status=502, times=None,
                              method="PATCH"),
                  faults.fail("/repos/*/issues/83/comments", status=502, times=None,
                              method="POST")]
        due = await wait_for(lambda: _report_due(world["bot"]), what="the report written down")
        repo = state.repo(REPO)
        assert [r["status"] for r in repo.check_runs.values()] == ["in_progress"]
        assert all(rule.hits >= 5 for rule in outage[:2])  # the client's retries ran out
        faults.clear()  # GitHub is back; the report is due in a minute: bring it forward
        with psycopg.connect(world["bot"], autocommit=True) as conn:
            conn.execute("UPDATE ledger.requests SET report_due = now() WHERE id = %s", (due,))
        run = await wait_for(lambda: [r for r in repo.check_runs.values()
                                      if r.get("status") == "completed"], what="the check run")
        await wait_for(lambda: _report_due(world["bot"]) is None, what="the report delivered")
    assert run[0]["conclusion"] == "success", run[0]["output"]["summary"]
    assert "Roll back" in [a["label"] for a in run[0].get("actions", [])]
    deployment = next(iter(repo.deployments))
    states = [s["state"] for s in repo.deployment_statuses[deployment]]
    assert states[0] == "queued" and states[-1] == "success" and states.count("success") == 1
    summaries = [c for c in repo.comments_on(83) if "deploybot:deployment:" in c["body"]]
    assert len(summaries) == 1 and "Deployed" in summaries[0]["body"], summaries
    github_server.assert_no_validation_errors()


def _report_due(bot_db: str) -> int | None:
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("SELECT id FROM ledger.requests WHERE report_due IS NOT NULL"
                           ).fetchone()
    return int(row[0]) if row else None


def assert_fully_migrated(staging: str) -> None:
    """The deployment itself completed: staging holds every migration of the fixture."""
    with psycopg.connect(staging) as conn:
        applied = conn.execute(
            "select count(*) from supabase_migrations.schema_migrations").fetchone()
    assert applied == (8,)
