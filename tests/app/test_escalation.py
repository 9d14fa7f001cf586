"""A stop-the-line failure escalates: the lead is mentioned in an incident summary on the
pull request, and a post-mortem issue is opened from the template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, make_repo
from tests.github_server.server import GitHubTestServer

CONFIG = """\
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
    anon_key_env: STAGING_ANON_KEY
    lead: "@3d3d/backend-leads"
"""


# A policy that lets every signed-in user read every quote: the RLS suite stops the line.
RLS_HOLE = {
    "migrations/20260301000000_open_quotes.sql":
        "create policy quotes_all on public.quotes for select to authenticated using (true);\n",
    "migrations/rollback/20260301000000_open_quotes.sql":
        "drop policy if exists quotes_all on public.quotes;\n"}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon")
    repo = make_repo(tmp_path / "repo", CONFIG)
    github_server.state.add_repo(REPO, git=repo)
    github_server.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


async def test_a_stop_the_line_failure_escalates(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "rls-hole", RLS_HOLE)
    github_server.state.add_pull(REPO, 31, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=31))
        issues = await wait_for(lambda: list(github_server.state.repo(REPO).issues.values()),
                                what="the post-mortem issue")
        incident = await wait_for(
            lambda: [c["body"] for c in github_server.state.repo(REPO).comments_on(31)
                     if "Stop the line" in c["body"]], what="the incident summary")
    assert issues[0]["title"].startswith("Post-mortem: staging deployment")
    body = issues[0]["body"]
    assert "RLS test fails" in body and "rolled back" in body and "Root cause" in body
    text = incident[0]
    # the RLS suite runs inside the migrations' transaction, before its commit
    assert "@3d3d/backend-leads" in text and "stopped at **migrate**" in text
    assert "undid **Apply migrations**" in text and f"#{issues[0]['number']}" in text
    github_server.assert_no_validation_errors()


async def test_an_escalation_github_refused_is_sent_once_github_is_back(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    """Issues cannot be opened (502 on every try) when the deployment fails: the escalation
    is written down as due, and sent from the ledger once GitHub takes issues again — one
    post-mortem issue, one incident summary."""
    sha = branch_with(world["repo"], "rls-hole", RLS_HOLE)
    state = github_server.state
    state.add_pull(REPO, 32, head_sha=sha, user_login="alice")
    refused = github_server.faults.fail("/repos/*/issues", status=502, times=None,
                                        method="POST")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=32))
        due = await wait_for(lambda: _due(world["bot"]), what="the escalation written down")
        assert due[1] == ["escalation"]  # the check run and the rest arrived
        assert refused.hits >= 5 and not state.repo(REPO).issues
        github_server.faults.clear()
        with psycopg.connect(world["bot"], autocommit=True) as conn:
            conn.execute("UPDATE ledger.requests SET report_due = now() WHERE id = %s",
                         (due[0],))
        await wait_for(lambda: _due(world["bot"]) is None, what="the escalation sent")
    issues = list(state.repo(REPO).issues.values())
    incidents = [c["body"] for c in state.repo(REPO).comments_on(32)
                 if "Stop the line" in c["body"]]
    assert len(issues) == 1 and issues[0]["title"].startswith("Post-mortem: staging")
    assert "RLS test fails" in issues[0]["body"]
    assert len(incidents) == 1 and f"#{issues[0]['number']}" in incidents[0]
    assert "@3d3d/backend-leads" in incidents[0]
    github_server.assert_no_validation_errors()


def _due(bot_db: str) -> tuple[int, list[str]] | None:
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("SELECT id, report_parts FROM ledger.requests "
                           "WHERE report_due IS NOT NULL").fetchone()
    return (int(row[0]), list(row[1])) if row else None
