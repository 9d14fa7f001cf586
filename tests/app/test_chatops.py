"""The other commands: /help, /lock and /unlock, /wcid, /status, /confirm, and --noop."""

from __future__ import annotations

from typing import Any

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer


def bot_replies(github: GitHubTestServer, pr: int) -> list[str]:
    return [c["body"] for c in github.state.repo(REPO).comments_on(pr)
            if c["body"].startswith("<!-- deploybot -->")]


async def test_commands(world: dict[str, Any], redis_prefix: str,  # noqa: F811
                        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    state = github_server.state
    state.add_pull(REPO, 41, head_sha=sha, user_login="alice")
    state.add_pull(REPO, 42, head_sha=sha, user_login="alice")
    state.set_permission(REPO, "mo", "maintain")

    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        async def ask(body: str, pr: int, user: str = "alice") -> str:
            before = len(bot_replies(github_server, pr))
            await bot.send("issue_comment", post_comment(github_server, body, pr=pr,
                                                         user=user))
            new = await wait_for(lambda: bot_replies(github_server, pr)[before:] or None,
                                 what=f"a reply to {body!r}")
            return str(new[0])

        text = await ask("/help", 41)
        assert "/deploy <environment> [<commit sha>] [--noop]" in text and "/wcid" in text
        assert "locked for #41" in await ask("/lock staging testing payments", 41)
        refused = await ask("/deploy staging", 42)
        assert "locked by @alice for #41 (`testing payments`)" in refused
        assert "already locked by @alice for #41" in await ask("/lock staging", 42)
        wcid = await ask("/wcid", 42)
        assert "🔒 locked by @alice (#41)" in wcid and "`production`" in wcid
        assert "only they" in await ask("/unlock staging", 42)
        assert "unlocked" in await ask("/unlock staging", 42, user="mo")  # a maintainer may
        assert "you have no queued request" in await ask("/cancel", 42)
        # --noop: preflight and the plan only; nothing changes
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging --noop",
                                                     pr=42))
        run = await wait_for(lambda: [r for r in state.repo(REPO).check_runs.values()
                                      if r.get("status") == "completed"], what="the dry run")
        status = await ask("/status", 42)
    assert run[0]["conclusion"] == "success"
    assert "Dry run" in run[0]["output"]["title"]
    assert "dry run of `" in status and "**dry run: nothing was changed**" in status
    assert "dry_run" not in status and "planned" not in status  # words, not enum values
    github_server.assert_no_validation_errors()
