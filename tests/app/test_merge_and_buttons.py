"""Merges deploy staging by themselves (once, though GitHub sends a merge and a push), the
check run's Roll back button undoes a deployment, and a head that moved is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.app.bot import (
    REPO,
    button_payload,
    comment_payload,
    merged_payload,
    push_payload,
    running_bot,
    wait_for,
)
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.fixture_repo import git
from tests.github_server.server import GitHubTestServer


def runs(github: GitHubTestServer) -> list[dict[str, Any]]:
    return list(github.state.repo(REPO).check_runs.values())


def done(github: GitHubTestServer, n: int) -> bool:
    r = runs(github)
    return len(r) >= n and all(x.get("status") == "completed" for x in r)


def public_tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from pg_tables where schemaname = 'public'"
                           ).fetchone()
    assert row is not None
    return int(row[0])


async def test_merge_deploys_once_and_the_rollback_button_undoes_it(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = git(Path(world["repo"]), "rev-parse", "main")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("pull_request", merged_payload(12, sha))
        await bot.send("push", push_payload(sha))
        await wait_for(lambda: done(github_server, 1), what="the merge deployment")
        first = runs(github_server)
        assert len(first) == 1 and first[0]["conclusion"] == "success"
        assert first[0]["head_sha"] == sha
        assert public_tables(world["staging"]) > 0
        await bot.send("check_run", button_payload(int(first[0]["id"]), "rollback"))
        await wait_for(lambda: done(github_server, 2), what="the rollback")
    second = runs(github_server)[1]
    assert second["conclusion"] == "success", second["output"]["summary"]
    assert "Rolled back" in second["output"]["title"]
    assert public_tables(world["staging"]) == 0
    github_server.assert_no_validation_errors()


async def test_a_head_that_moved_after_the_comment_is_refused(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = git(Path(world["repo"]), "rev-parse", "main")
    github_server.state.add_pull(REPO, 13, head_sha=sha, user_login="alice")
    comment = github_server.state.add_comment(REPO, 13, "/deploy staging", user_login="alice")
    # the comment was written before the head commit existed
    payload = comment_payload("/deploy staging", pr=13, comment_id=int(comment["id"]),
                              created_at=datetime.now(UTC) - timedelta(hours=1))
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", payload)

        def refusal() -> list[str]:
            return [c["body"] for c in github_server.state.repo(REPO).comments_on(13)
                    if "moved" in c["body"]]

        text = await wait_for(refusal, what="the refusal")
    assert f"moved to `{sha[:7]}` after your comment" in text[0]
    assert runs(github_server) == []
