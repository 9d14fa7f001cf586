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
    with psycopg.connect(world["staging"]) as conn:
        applied = conn.execute(
            "select count(*) from supabase_migrations.schema_migrations").fetchone()
    assert applied == (8,)
    github_server.assert_no_validation_errors()
