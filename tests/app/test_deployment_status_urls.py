"""Every GitHub deployment status the bot posts links its log (the dashboard) and its
environment, so GitHub's "View deployment" and "View logs" lead somewhere.

Run with `timeout 300`: it waits only for things that always happen (the check run ending,
every request settling), each with its own limit."""

from __future__ import annotations

from typing import Any

from tests.app.bot import REPO, post_comment, requests_settled, running_bot, wait_for
from tests.app.test_pr_deploy import completed, world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer

PUBLIC = "https://deploybot.example.com"


def posted_statuses(github: GitHubTestServer) -> list[dict[str, Any]]:
    """The bodies of the deployment statuses the bot sent (not those GitHub adds itself,
    like `inactive` for an older deployment)."""
    return [r.body for r in github.requests
            if r.method == "POST" and r.path.endswith("/statuses") and "/deployments/" in r.path
            and isinstance(r.body, dict)]


async def test_every_deployment_status_links_its_log_and_environment(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "hello\n"})
    github_server.state.add_pull(REPO, 7, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           public_url=PUBLIC) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=7))
        run = await wait_for(lambda: completed(github_server), limit=180,
                             what="the check run to end")
        await wait_for(lambda: requests_settled(world["bot"]), what="every request to end")
    assert run["conclusion"] == "success", run["output"]["summary"]
    sent = posted_statuses(github_server)
    assert [s["state"] for s in sent] == ["queued", "in_progress", "success"]
    environment = f"{PUBLIC}/history?repo=octo%2Fbackend&env=staging"
    assert [s.get("environment_url") for s in sent] == [environment] * 3
    queued, running, done = (str(s.get("log_url")) for s in sent)
    assert queued.startswith(f"{PUBLIC}/requests/")  # no deployment yet: the request's page
    assert running.startswith(f"{PUBLIC}/deployments/") and done == running
    # GitHub holds them as sent
    [deployment] = github_server.state.repo(REPO).deployments.values()
    held = github_server.state.repo(REPO).deployment_statuses[deployment["id"]]
    assert all(s["environment_url"] == environment and s["log_url"] for s in held)
    github_server.assert_no_validation_errors()
