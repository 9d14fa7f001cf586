"""The commit a person saw (issue 11, item 3): a `/deploy` comment deploys the head that was
current when it was written — judged from GitHub's times of head changes, never from commit
dates, which whoever pushes writes — and `/deploy <env> <sha>` deploys the named commit.

Each attack is a pull request built here and deployed through the test GitHub server with
the whole bot running; the pure judgement is tested on its own below."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.commands.grammar import Command, ParseError, parse
from service.ledger import deliveries, pr_heads
from service.ledger.db import connect, ensure_schema
from tests.app.bot import (
    REPO,
    Bot,
    comment_payload,
    pull_request_payload,
    running_bot,
    wait_for,
)
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with, git
from tests.github_server.server import GitHubTestServer
from workers.commands.head_history import HeadChange, head_at_comment, resolve_pin

BACK_THEN = "2020-01-01T00:00:00+00:00"  # what an attacker writes into GIT_COMMITTER_DATE
PWNED = {"migrations/20260401000000_pwned.sql":
         "create table public.pwned (id int);\n"
         "alter table public.pwned enable row level security;\n",
         "migrations/rollback/20260401000000_pwned.sql": "drop table if exists public.pwned;\n"}


def back_dated_commit(repo: Path, branch: str, files: dict[str, str]) -> str:
    """A commit on `branch` whose author and committer dates say 2020."""
    git(repo, "checkout", "-q", branch)
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "looks old"], check=True,
                   env={**os.environ, "GIT_COMMITTER_DATE": BACK_THEN,
                        "GIT_AUTHOR_DATE": BACK_THEN})
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return sha


def comment_now(github: GitHubTestServer, body: str, pr: int) -> dict[str, Any]:
    """A comment written now by GitHub's clock (the test server's), as delivered."""
    comment = github.state.add_comment(REPO, pr, body, user_login="alice")
    written = datetime.fromisoformat(str(comment["created_at"]).replace("Z", "+00:00"))
    return comment_payload(body, pr=pr, comment_id=int(comment["id"]), created_at=written)


def later(github: GitHubTestServer) -> None:
    """Time passes on GitHub's clock: what happens next is seconds after what came before."""
    github.state.advance_clock(3)


def replies(github: GitHubTestServer, pr: int) -> list[str]:
    return [c["body"] for c in github.state.repo(REPO).comments_on(pr)
            if c["body"].startswith("<!-- deploybot -->")]


def check_runs(github: GitHubTestServer) -> list[dict[str, Any]]:
    return list(github.state.repo(REPO).check_runs.values())


def finished(github: GitHubTestServer) -> list[dict[str, Any]]:
    return [r for r in check_runs(github) if r.get("status") == "completed"]


def has_pwned(staging: str) -> bool:
    with psycopg.connect(staging) as conn:
        row = conn.execute("select to_regclass('public.pwned') is not null").fetchone()
    return bool(row and row[0])


async def opened(bot: Bot, github: GitHubTestServer, pr: int) -> None:
    await bot.send("pull_request", pull_request_payload(github, "opened", pr))


async def test_a_back_dated_push_after_the_comment_is_refused(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    repo: Path = world["repo"]
    seen = branch_with(repo, "feature", {"README.md": "reviewed\n"})
    github_server.state.add_pull(REPO, 71, head_sha=seen, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        bot.announce_pulls = False
        await opened(bot, github_server, 71)
        later(github_server)
        deploy = comment_now(github_server, "/deploy staging", 71)
        later(github_server)
        pushed = back_dated_commit(repo, "feature", PWNED)  # dated 2020, pushed after
        github_server.state.set_pull_head(REPO, 71, pushed)
        await bot.send("pull_request", pull_request_payload(github_server, "synchronize", 71))
        await bot.send("issue_comment", deploy)
        reply = await wait_for(lambda: replies(github_server, 71), what="the refusal")
    assert f"moved to `{pushed[:7]}` after your comment" in reply[0]
    assert "comment `/deploy staging` again" in reply[0]
    assert check_runs(github_server) == [] and not has_pwned(world["staging"])
    github_server.assert_no_validation_errors()


async def test_a_push_whose_event_has_not_arrived_is_not_deployed_until_asked_again(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    """The `synchronize` delivery is late: the bot sees a head it cannot place before the
    comment, refuses, and deploys it on a comment written after the push."""
    repo: Path = world["repo"]
    seen = branch_with(repo, "feature", {"README.md": "reviewed\n"})
    github_server.state.add_pull(REPO, 72, head_sha=seen, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        bot.announce_pulls = False
        await opened(bot, github_server, 72)
        later(github_server)
        first = comment_now(github_server, "/deploy staging", 72)
        later(github_server)
        pushed = back_dated_commit(repo, "feature", PWNED)
        github_server.state.set_pull_head(REPO, 72, pushed)
        await bot.send("issue_comment", first)  # before GitHub's synchronize delivery
        refusal = await wait_for(lambda: replies(github_server, 72), what="the refusal")
        assert check_runs(github_server) == [] and not has_pwned(world["staging"])
        assert "I cannot tell which commit was the head of #72" in refusal[0]
        assert "Comment `/deploy staging` again" in refusal[0]
        await bot.send("pull_request", pull_request_payload(github_server, "synchronize", 72))
        later(github_server)
        await bot.send("issue_comment", comment_now(github_server, "/deploy staging", 72))
        run = await wait_for(lambda: finished(github_server), what="the deployment")
    assert run[0]["head_sha"] == pushed
    assert run[0]["conclusion"] == "success", run[0]["output"]
    assert has_pwned(world["staging"])
    github_server.assert_no_validation_errors()


async def test_a_force_push_after_the_comment_is_refused_with_a_request_to_comment_again(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    """No `synchronize` arrives at all: GitHub's timeline shows the force push, at its own
    time, after the comment."""
    repo: Path = world["repo"]
    seen = branch_with(repo, "feature", {"README.md": "reviewed\n"})
    github_server.state.add_pull(REPO, 73, head_sha=seen, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        bot.announce_pulls = False
        await opened(bot, github_server, 73)
        later(github_server)
        deploy = comment_now(github_server, "/deploy staging", 73)
        later(github_server)
        git(repo, "branch", "-q", "-f", "other", "main")
        replaced = back_dated_commit(repo, "other", PWNED)
        github_server.state.force_push(REPO, 73, replaced, actor="mallory")
        await bot.send("issue_comment", deploy)
        reply = await wait_for(lambda: replies(github_server, 73), what="the refusal")
    assert f"moved to `{replaced[:7]}` after your comment" in reply[0]
    assert "comment `/deploy staging` again" in reply[0]
    assert check_runs(github_server) == [] and not has_pwned(world["staging"])
    github_server.assert_no_validation_errors()


async def test_deploy_with_a_sha_deploys_that_commit_of_the_pull_request(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    repo: Path = world["repo"]
    older = branch_with(repo, "feature", {"README.md": "first\n"})
    newer = back_dated_commit(repo, "feature", PWNED)  # the head now
    github_server.state.add_pull(REPO, 74, head_sha=newer, user_login="alice")
    base = git(repo, "rev-parse", "main")
    later(github_server)  # the pull request was opened a while before the comments
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", comment_now(github_server, f"/deploy staging {base}",
                                                    74))
        reply = await wait_for(lambda: replies(github_server, 74), what="the refusal")
        assert f"`{base}` is not a commit of #74" in reply[0]
        assert check_runs(github_server) == []
        await bot.send("issue_comment", comment_now(
            github_server, f"/deploy staging {older[:8].upper()}", 74))
        run = await wait_for(lambda: finished(github_server), what="the deployment")
    assert run[0]["head_sha"] == older and run[0]["conclusion"] == "success"
    assert not has_pwned(world["staging"])  # the head's migration was not deployed
    github_server.assert_no_validation_errors()


# -- the record of head changes -----------------------------------------------------------

async def test_a_push_delivered_but_not_handled_yet_is_already_known(fresh_db: str) -> None:
    """The intake took a `synchronize` delivery whose job has not run: a comment handled
    first still knows of the push, at GitHub's time of it. Handled, it is recorded once."""
    await ensure_schema(fresh_db)
    pull = {"number": 9, "head": {"sha": B}, "updated_at": "2026-03-02T09:59:00Z"}
    junk = {"number": 9, "head": {"sha": "not-a-sha"}, "updated_at": "2026-03-02T09:59:01Z"}
    async with await connect(fresh_db) as conn:
        for delivery_id, payload in (("d-1", pull), ("d-2", junk)):
            await deliveries.record(conn, delivery_id=delivery_id, event="pull_request",
                                    action="synchronize", installation_id=1, repo=REPO,
                                    payload={"action": "synchronize", "pull_request": payload})
        assert await pr_heads.history(conn, REPO, 9) == [
            pr_heads.HeadRecord(B, "synchronize", T - timedelta(minutes=1))]
        assert await pr_heads.history(conn, REPO, 8) == []
        for _ in range(2):  # handled, then handled again (a redelivery): one record
            await pr_heads.record_event(conn, repo=REPO, pr_number=9, sha=B,
                                        action="synchronize", delivery_id="d-1",
                                        event_at=T - timedelta(minutes=1))
            await deliveries.finish(conn, "d-1", "processed", "recorded")
        assert await pr_heads.history(conn, REPO, 9) == [
            pr_heads.HeadRecord(B, "synchronize", T - timedelta(minutes=1))]


# -- the judgement alone ------------------------------------------------------------------

T = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
A, B, C = "a" * 40, "b" * 40, "c" * 40


def at(seconds: int, sha: str | None, source: str = "synchronize") -> HeadChange:
    return HeadChange(T + timedelta(seconds=seconds), sha, source)


@pytest.mark.parametrize(("changes", "current", "verdict", "sha"), [
    ([at(-60, A, "opened")], A, "ok", A),
    ([at(-60, A, "opened"), at(-5, B)], B, "ok", B),
    ([at(-60, A, "opened"), at(30, B)], B, "moved", None),  # pushed after the comment
    ([at(-60, A, "opened"), at(0, B)], B, "moved", None),  # the same second: not before
    ([at(-60, A, "opened")], B, "unknown", None),  # a push not heard of yet
    ([], A, "unknown", None),  # nothing recorded for this pull request
    ([at(-60, A, "opened"), at(20, None, "force-push")], A, "moved", None),
    ([at(-60, A, "opened"), at(20, A, "reopened")], A, "ok", A),  # the same head again
    ([at(-60, A, "opened"), at(-30, None, "force-push"), at(-29, B)], B, "ok", B),
    ([at(-60, B, "force-push"), at(-90, A, "opened")], B, "ok", B),  # order by time
])
def test_the_head_at_the_comment(changes: list[HeadChange], current: str, verdict: str,
                                 sha: str | None) -> None:
    seen = head_at_comment(T, current, changes)
    assert (seen.verdict, seen.sha) == (verdict, sha)


def test_a_pin_names_one_commit_of_the_pull_request() -> None:
    commits = [A, B, "abcdef0" + "1" * 33, "abcdef0" + "2" * 33]
    quiet = [at(-60, A, "opened")]
    assert resolve_pin(B, commits, pr_number=5, comment_at=T, changes=quiet).sha == B
    assert resolve_pin("bbbbbbb", commits, pr_number=5, comment_at=T, changes=quiet).sha == B
    assert "not a commit of #5" in str(resolve_pin(C, commits, pr_number=5, comment_at=T,
                                                   changes=quiet).problem)
    assert "names 2 commits" in str(resolve_pin("abcdef0", commits, pr_number=5, comment_at=T,
                                                changes=quiet).problem)
    # after the comment the branch moved: an abbreviation may name a commit made to match it
    moved = [*quiet, at(10, C)]
    assert "abbreviated" in str(resolve_pin("bbbbbbb", commits, pr_number=5, comment_at=T,
                                            changes=moved).problem)
    assert resolve_pin(B, commits, pr_number=5, comment_at=T, changes=moved).sha == B


@pytest.mark.parametrize(("body", "expected"), [
    ("/deploy staging 1234567", Command("deploy", "staging", sha="1234567")),
    (f"/deploy staging {A.upper()} --noop", Command("deploy", "staging", noop=True, sha=A)),
    ("/deploy staging --noop abcdef0", Command("deploy", "staging", noop=True, sha="abcdef0")),
])
def test_the_grammar_reads_a_pinned_commit(body: str, expected: Command) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize(("body", "problem"), [
    ("/deploy staging 123456", "unexpected `123456`"),  # six digits: too short
    ("/deploy staging 1234567 7654321", "unexpected `7654321`"),
    ("/deploy staging '1234567'", "write the commit plainly"),
    ("/deploy staging g234567", "unexpected `g234567`"),
])
def test_the_grammar_refuses_what_is_not_one_commit(body: str, problem: str) -> None:
    result = parse(body)
    assert isinstance(result, ParseError) and problem in result.message
