"""👀 comes first: put on a command as soon as the commenter is known to be answered, before
the configuration, the pull request and the timeline are read; a refusal takes it back, so
the comment ends with 😕 alone."""

from __future__ import annotations

from typing import Any

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import reactions, world  # noqa: F401  (fixture)
from tests.github_server.server import GitHubTestServer


async def test_eyes_before_the_slow_checks_and_taken_back_on_refusal(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    github_server.state.add_pull(REPO, 61, head_sha="a" * 40, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        payload = post_comment(github_server, "/deploy nowhere", pr=61)
        comment_id = payload["comment"]["id"]
        await bot.send("issue_comment", payload)
        await wait_for(lambda: reactions(github_server, comment_id) == ["confused"],
                       what="the refusal's reaction")
    calls = [(r.method, r.path) for r in github_server.requests]
    eyes = calls.index(("POST", f"/repos/{REPO}/issues/comments/{comment_id}/reactions"))
    config = next(i for i, (m, p) in enumerate(calls)
                  if m == "GET" and p.startswith(f"/repos/{REPO}/contents/"))
    assert eyes < config  # 👀 did not wait for the configuration
    assert any(m == "DELETE" and p.startswith(
        f"/repos/{REPO}/issues/comments/{comment_id}/reactions/") for m, p in calls)
