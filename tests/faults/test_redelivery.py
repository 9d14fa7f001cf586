"""Missed webhooks: a delivery GitHub failed to hand us is found in its delivery log and
redelivered on our request — once — and then deploys like any other."""

from __future__ import annotations

from typing import Any

from tests.app.bot import REPO, post_comment, pull_request_payload, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from workers.jobs.redeliver import redeliver_failed


async def test_failed_deliveries_are_redelivered_once(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    state = github_server.state
    state.add_pull(REPO, 71, head_sha=sha, user_login="alice")
    payload = post_comment(github_server, "/deploy staging", pr=71)
    # GitHub could not reach us (our load balancer answered 502): we never saw it
    missed = state.add_delivery(event="issue_comment", action="created", status_code=502,
                                payload=payload)
    state.add_delivery(event="ping", status_code=200)  # delivered fine: left alone
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        assert bot.worker is not None
        worker = bot.worker
        await wait_for(lambda: "deploybot" in worker.ctx, what="the worker to start")
        # the pull request's opening did reach us (the bot knows its head)
        await bot.send("pull_request", pull_request_payload(github_server, "opened", 71))
        result = await redeliver_failed(worker.ctx)
        assert result.startswith("asked GitHub to redeliver 1 of 1")
        assert state.redelivery_attempts == [missed["id"]]
        await wait_for(lambda: [r for r in state.repo(REPO).check_runs.values()
                                if r.get("conclusion") == "success"], what="the deployment")
        # the redelivery succeeded and is in the ledger: nothing more to ask for
        assert (await redeliver_failed(worker.ctx)) == "no failed deliveries"
    assert state.redelivery_attempts == [missed["id"]]
    assert len(state.repo(REPO).check_runs) == 1
