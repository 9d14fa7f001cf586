"""`/deploy staging` on a pull request: squawk's findings reach the check run as warning
annotations at their migration line, and a failing pgTAP test as a failure annotation at
its line of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, make_repo
from tests.github_server.server import GitHubTestServer

INDEX = "migrations/20260301000000_quotes_index.sql"
SUITE = "tests/backend/rls_suite.sql"
QUOTES_TEST = "customers see only their own quotes"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    repo = make_repo(tmp_path / "repo")
    github_server.state.add_repo(REPO, git=repo)
    github_server.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


def completed(github: GitHubTestServer, count: int) -> dict[str, Any] | None:
    runs = list(github.state.repo(REPO).check_runs.values())
    if len(runs) < count or runs[count - 1].get("status") != "completed":
        return None
    return runs[count - 1]


async def test_squawk_warnings_and_pgtap_failures_are_annotated_at_their_lines(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    risky = branch_with(world["repo"], "index", {
        INDEX: "-- customers list their quotes by date\n"
               "create index quotes_by_date on public.quotes (created_at);\n",
        "migrations/rollback/20260301000000_quotes_index.sql":
            "drop index public.quotes_by_date;\n",
    })
    github_server.state.add_pull(REPO, 7, head_sha=risky, user_login="alice")
    opened = branch_with(world["repo"], "open", {
        "migrations/20260302000000_open.sql":
            "create policy quotes_all on public.quotes for select to authenticated "
            "using (true);\n",
        "migrations/rollback/20260302000000_open.sql":
            "drop policy quotes_all on public.quotes;\n"}, base="index")
    github_server.state.add_pull(REPO, 8, head_sha=opened, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=7))
        run = await wait_for(lambda: completed(github_server, 1), what="the first check run")
        assert run["conclusion"] == "success", run["output"]["summary"]
        # staging was empty: every migration was pending, the project's own included
        warnings = github_server.state.repo(REPO).annotations[run["id"]]
        assert {a["annotation_level"] for a in warnings} == {"warning"}
        assert [(a["start_line"], a["title"]) for a in warnings if a["path"] == INDEX] == [
            (2, "squawk: require-concurrent-index-creation")]

        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=8))
        run = await wait_for(lambda: completed(github_server, 2), what="the second check run")
    assert run["conclusion"] == "failure", run["output"]["summary"]
    failures = github_server.state.repo(REPO).annotations[run["id"]]
    [quotes] = [a for a in failures if QUOTES_TEST in a["message"]]
    assert quotes["path"] == SUITE and quotes["annotation_level"] == "failure"
    suite = (Path(world["repo"]) / SUITE).read_text().splitlines()
    assert QUOTES_TEST in suite[quotes["start_line"] - 1]
