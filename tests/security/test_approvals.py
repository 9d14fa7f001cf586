"""Approvals that mean something (issue 11, item 4): production counts each reviewer's
latest verdict, only on the commit being deployed, only from `write` or more; changes
requested block; the checklist names who approved which commit.

The attack is a pull request built here and taken to `/deploy production` through the test
GitHub server with the whole bot running; the pure counting is tested on its own below."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.config import ConfigError
from service.config.load import parse_config
from service.config.model import EnvironmentConfig
from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_production_gates import ask, runs, world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with, git
from tests.github_server.server import GitHubTestServer
from workers.gates.approvals import count_approvals, latest_verdicts
from workers.gates.checklist import approvals
from workers.gates.facts import GateFacts


def approvals_line(reply: str) -> str:
    return next(line for line in reply.splitlines() if "**Approved" in line)


async def test_only_latest_write_approvals_on_the_deployed_commit_count(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    repo: Path = world["repo"]
    state = github_server.state
    reviewed = branch_with(repo, "feature", {"README.md": "first\n"})
    git(repo, "checkout", "-q", "feature")
    (repo / "NOTES.md").write_text("pushed after the review\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "unreviewed")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    state.add_pull(REPO, 31, head_sha=head, user_login="erin")
    state.set_permission(REPO, "carol", "write")
    state.set_permission(REPO, "rita", "read")
    # carol approved the commit before the last push; rita approved the head, with `read`
    state.add_review(REPO, 31, user_login="carol", state="APPROVED", commit_id=reviewed)
    state.add_review(REPO, 31, user_login="rita", state="APPROVED", commit_id=head)
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        line = approvals_line(await ask(bot, github_server, "/deploy production", 31))
        assert "❌ does not hold" in line, line
        assert f"0 of 1 approval(s) on `{head[:7]}`" in line
        assert f"@carol approved `{reviewed[:7]}`, not `{head[:7]}`" in line
        assert "@rita has read permission, not write" in line
        # dora approves, then asks for changes: her latest verdict blocks
        state.add_review(REPO, 31, user_login="dora", state="APPROVED", commit_id=head)
        state.add_review(REPO, 31, user_login="dora", state="CHANGES_REQUESTED",
                         commit_id=head)
        line = approvals_line(await ask(bot, github_server, "/deploy production", 31))
        assert "❌ does not hold" in line and "changes requested by @dora" in line, line
        # her approval of the head, after the changes: production may go
        state.add_review(REPO, 31, user_login="dora", state="APPROVED", commit_id=head)
        line = approvals_line(await ask(bot, github_server, "/deploy production", 31))
        assert "✅ holds" in line and f"approved by @dora on `{head[:7]}`" in line, line
        # every other item, then production: its check run names approver and commit
        assert "✅ Recorded" in await ask(
            bot, github_server, "/confirm production leaked-password-protection", 31)
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=31))
        staging = await wait_for(lambda: [r for r in runs(github_server, "deploybot/staging")
                                          if r.get("conclusion") == "success"], what="staging")
        # with staging passed, production's whole checklist holds: the button is offered
        assert [a["identifier"] for a in staging[0]["actions"]] == [
            "rollback", "deploy-production"], staging[0]["output"]["summary"]
        assert "checklist holds for" in staging[0]["output"]["summary"]
        await bot.send("issue_comment", post_comment(github_server, "/deploy production",
                                                     pr=31))
        run = await wait_for(lambda: [r for r in runs(github_server, "deploybot/production")
                                      if r.get("status") == "completed"],
                             what="the production deployment")
    assert run[0]["conclusion"] == "success", run[0]["output"]["summary"]
    assert run[0]["head_sha"] == head
    summary = run[0]["output"]["summary"]
    assert f"| ✅ holds: approved by @dora on `{head[:7]}` |" in summary
    text = run[0]["output"].get("text") or ""
    # the step's log, plain text in a code block on GitHub
    assert "✓ Approved" in text and f"approved by @dora on {head[:7]}" in text
    github_server.assert_no_validation_errors()


# -- the counting alone -------------------------------------------------------------------

HEAD, OLD = "h" * 40, "o" * 40
WRITERS = {"bob": "write", "dora": "maintain", "adam": "admin", "rita": "read",
           "tom": "triage", "erin": "write"}


def review(login: str, state: str, commit: str = HEAD, at: str | None = None
           ) -> dict[str, Any]:
    return {"user": {"login": login}, "state": state, "commit_id": commit,
            "submitted_at": at}


def count(reviews: list[dict[str, Any]], any_commit: bool = False) -> tuple[Any, ...]:
    c = count_approvals(reviews, commit=HEAD, author="erin", permissions=WRITERS,
                        any_commit=any_commit)
    return ([a.login for a in c.counted], c.blocking,
            [(a.login, why) for a, why in c.not_counted])


def test_write_maintain_and_admin_approvals_on_the_commit_count() -> None:
    assert count([review("bob", "APPROVED"), review("dora", "APPROVED"),
                  review("adam", "APPROVED")]) == (["adam", "bob", "dora"], [], [])


def test_read_triage_and_unknown_users_do_not_count() -> None:
    counted, _, skipped = count([review("rita", "APPROVED"), review("tom", "APPROVED"),
                                 review("zed", "APPROVED")])
    assert counted == []
    assert skipped == [("rita", "has read permission, not write"),
                       ("tom", "has triage permission, not write"),
                       ("zed", "has unknown permission, not write")]


def test_an_approval_of_another_commit_counts_only_when_configured() -> None:
    reviews = [review("bob", "APPROVED", OLD)]
    assert count(reviews) == ([], [], [("bob", "approved `ooooooo`, not `hhhhhhh`")])
    assert count(reviews, any_commit=True) == (["bob"], [], [])


def test_the_latest_verdict_of_each_reviewer_counts() -> None:
    assert count([review("bob", "APPROVED", at="2026-01-01T10:00:00Z"),
                  review("bob", "CHANGES_REQUESTED", at="2026-01-01T11:00:00Z")]) == (
        [], ["bob"], [])
    assert count([review("bob", "CHANGES_REQUESTED", at="2026-01-01T10:00:00Z"),
                  review("bob", "APPROVED", at="2026-01-01T11:00:00Z")]) == (["bob"], [], [])
    # listed out of order: the time decides
    assert count([review("bob", "CHANGES_REQUESTED", at="2026-01-01T12:00:00Z"),
                  review("bob", "APPROVED", at="2026-01-01T11:00:00Z")]) == ([], ["bob"], [])
    # an old approval followed by one on an older commit: the latest is the one judged
    assert count([review("bob", "APPROVED", HEAD, "2026-01-01T10:00:00Z"),
                  review("bob", "APPROVED", OLD, "2026-01-01T11:00:00Z")])[0] == []
    # a dismissed approval is gone; a plain comment leaves the verdict as it was
    assert count([review("bob", "APPROVED", at="2026-01-01T10:00:00Z"),
                  review("bob", "DISMISSED", at="2026-01-01T11:00:00Z")]) == ([], [], [])
    assert count([review("bob", "APPROVED", at="2026-01-01T10:00:00Z"),
                  review("bob", "COMMENTED", at="2026-01-01T11:00:00Z")]) == (["bob"], [], [])


def test_changes_requested_on_an_older_commit_still_block() -> None:
    assert count([review("bob", "APPROVED"), review("dora", "CHANGES_REQUESTED", OLD)])[1] == [
        "dora"]


def test_the_author_approving_their_own_pull_request_does_not_count() -> None:
    assert count([review("erin", "APPROVED")]) == ([], [], [])
    assert "erin" not in latest_verdicts([review("ERIN", "APPROVED")], "erin")


def test_the_checklist_item_names_who_approved_which_commit() -> None:
    env = EnvironmentConfig(name="production", database_url_env="X", approvals=2)
    facts = GateFacts(environment="production", commit=HEAD, now=datetime.now(UTC),
                      pr_author="erin", reviewer_permissions=WRITERS,
                      reviews=[review("bob", "APPROVED"), review("rita", "APPROVED"),
                               review("dora", "APPROVED", OLD)])
    result = approvals(env, facts)
    assert not result.ok and result.reason == (
        "1 of 2 approval(s) on `hhhhhhh` (@bob on `hhhhhhh`); not counted: @dora approved "
        "`ooooooo`, not `hhhhhhh`; @rita has read permission, not write")
    facts.reviews = [review("bob", "APPROVED"), review("dora", "APPROVED")]
    result = approvals(env, facts)
    assert result.ok and result.line().endswith(
        "— approved by @bob on `hhhhhhh`, @dora on `hhhhhhh`")
    facts.reviews.append(review("tom", "CHANGES_REQUESTED"))  # even with `triage`
    assert approvals(env, facts).reason == "changes requested by @tom"
    facts.reviews = None  # no GitHub (the CLI): nothing to count
    assert not approvals(env, facts).ok


def test_approvals_on_any_commit_is_validated_like_other_keys() -> None:
    def config(value: str) -> str:
        return f"environments:\n  staging: {{}}\n  production: {{{value}}}\n"

    parsed = parse_config(config("approvals_on_any_commit: true"))
    assert parsed.environments["production"].approvals_on_any_commit is True
    assert parse_config(config("")).environments["production"].approvals_on_any_commit is False
    with pytest.raises(ConfigError) as info:
        parse_config(config("approvals_on_any_commit: 'yes'"))
    assert ("environments.production.approvals_on_any_commit: expected true or false, "
            "got 'yes'") in "\n".join(info.value.problems)
