"""The other commands: /help, /lock and /unlock, /wcid, /status, /confirm, and --noop."""

from __future__ import annotations

from typing import Any

from service.commands import grammar
from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from workers.steps.preflight import plan_text


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
        # every command, with the permission the authorization rule asks for it here
        assert "| permission needed |" in text
        assert ("**write**; `production`: **maintain**; with `--force`: **admin** |"
                in text)
        assert "| `/cancel` |" in text and "**triage** (your own requests)" in text
        assert text.count("| `/") == len(grammar.USAGE)
        assert "locked for #41" in await ask("/lock staging testing payments", 41)
        refused = await ask("/deploy staging", 42)
        assert "locked by @alice for #41 (`testing payments`)" in refused
        assert "already locked by @alice for #41" in await ask("/lock staging", 42)
        wcid = await ask("/wcid", 42)
        assert "🔒 locked by @alice (#41)" in wcid and "`production`" in wcid
        assert "| environment | state | queue | deploying now | active release |" in wcid
        assert "| `production` | ✅ free | — | — | — |" in wcid
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
    # the plan names what would change: the migration files and the functions
    [planned] = [c["body"] for c in state.repo(REPO).comments_on(42)
                 if "deploybot:deployment:" in c["body"]]
    assert "**Plan for `staging`**" in planned, planned
    assert "- migrations: apply 8: `20260101000000_baseline.sql`," in planned
    assert "`20260107000007_enable_leaked_password_protection.sql`" in planned
    assert "- functions: a new release of `calculate-quote`" in planned
    assert "dry run of `" in status and "**dry run: nothing was changed**" in status
    assert "dry_run" not in status and "planned" not in status  # words, not enum values
    github_server.assert_no_validation_errors()


def test_nothing_to_do_names_what_is_there() -> None:
    note, plan = plan_text("staging", [], 8, "20260107000007_enable_leaked_password_protection.sql",
                           False, ("calculate-quote",))
    assert note == ("nothing to do: migrations none pending (8 applied, the latest "
                    "20260107000007_enable_leaked_password_protection.sql); functions "
                    "unchanged (calculate-quote)")
    assert "- functions: unchanged (`calculate-quote`)" in plan
