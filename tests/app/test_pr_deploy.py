"""`/deploy staging` on a pull request, end to end: the real webhook endpoint, a real arq
worker on real Redis, real PostgreSQL, and the test GitHub server."""

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

BROKEN = """\
-- Phase 2 draft
alter table public.quotes add column note text;

alter table public.quotes add column note text;
"""


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
    github_server.state.set_permission(REPO, "rita", "read")
    try:
        yield {"bot": bot, "staging": staging, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


def check_run(github: GitHubTestServer) -> dict[str, Any] | None:
    runs = list(github.state.repo(REPO).check_runs.values())
    return runs[-1] if runs else None


def completed(github: GitHubTestServer) -> dict[str, Any] | None:
    run = check_run(github)
    return run if run and run.get("status") == "completed" else None


def reactions(github: GitHubTestServer, comment_id: int) -> list[str]:
    return [r["content"] for r in github.state.repo(REPO).reactions.get(comment_id, [])]


async def test_deploy_staging_from_a_comment(world: dict[str, Any], redis_prefix: str,
                                             github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "hello\n"})
    github_server.state.add_pull(REPO, 7, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        payload = post_comment(github_server, "/deploy staging", pr=7)
        response = await bot.send("issue_comment", payload)
        assert response.status_code == 202
        run = await wait_for(lambda: completed(github_server), what="the check run to end")
        await wait_for(lambda: len(reactions(github_server, payload["comment"]["id"])) == 2,
                       what="the final reaction")
    assert run["name"] == "deploybot/staging" and run["head_sha"] == sha
    assert run["conclusion"] == "success", run["output"]["summary"]
    statuses = [b.get("status") for b in
                github_server.state.repo(REPO).check_run_requests[run["id"]]]
    assert statuses[0] == "queued" and "in_progress" in statuses
    assert "Deployed" in run["output"]["summary"] and "Smoke tests" in run["output"]["summary"]
    assert reactions(github_server, payload["comment"]["id"]) == ["eyes", "rocket"]
    deployments = list(github_server.state.repo(REPO).deployments.values())
    assert [d["environment"] for d in deployments] == ["staging"]
    states = [s["state"] for s in
              github_server.state.repo(REPO).deployment_statuses[deployments[0]["id"]]]
    assert states == ["queued", "in_progress", "success"]
    summary = [c for c in github_server.state.repo(REPO).comments_on(7)
               if "deploybot:deployment:" in c["body"]]
    assert len(summary) == 1
    body = summary[0]["body"]
    # short: the headline (state, environment, commit, duration), the steps and links; the
    # logs are in the check run
    headline = body.splitlines()[1]
    assert headline.startswith(f"### ✅ Deployed `{sha[:7]}` to **staging** in "), body
    assert "| ✅ | Smoke tests |" in body and "<details" not in body
    assert f"[check run and logs](https://github.com/{REPO}/runs/{run['id']})" in body
    # production's checklist does not hold yet (no approval): no button, and it says so
    assert [a["identifier"] for a in run["actions"]] == ["rollback"]
    assert "pre-production checklist items do not hold" in run["output"]["summary"]
    assert "no **Deploy to production** button yet" in body
    with psycopg.connect(world["staging"]) as conn:
        applied = conn.execute(
            "select count(*) from supabase_migrations.schema_migrations").fetchone()
        totals = conn.execute("select total::text from public.quotes").fetchall()
    assert applied == (8,) and totals == [("24.00",)]
    github_server.assert_no_validation_errors()


async def test_a_failing_migration_is_annotated_and_rolled_back(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "broken", {
        "migrations/20260301000000_add_note.sql": BROKEN,
        "migrations/rollback/20260301000000_add_note.sql":
            "alter table public.quotes drop column if exists note;\n"})
    github_server.state.add_pull(REPO, 8, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        payload = post_comment(github_server, "/deploy staging", pr=8)
        await bot.send("issue_comment", payload)
        run = await wait_for(lambda: completed(github_server), what="the check run to end")
        await wait_for(lambda: len(reactions(github_server, payload["comment"]["id"])) == 2,
                       what="the final reaction")
    assert run["conclusion"] == "failure"
    assert "rolled back" in run["output"]["summary"]
    assert run["output"]["title"].startswith("❌ Deploying")
    # the logs: the failing step's first, open
    assert run["output"]["text"].startswith("<details open><summary>Apply migrations")
    [summary] = [c["body"] for c in github_server.state.repo(REPO).comments_on(8)
                 if "deploybot:deployment:" in c["body"]]
    assert summary.splitlines()[1].startswith(
        f"### ❌ Deploying `{sha[:7]}` to **staging** failed and was rolled back in "), summary
    assert "**Why:** **Apply migrations**: " in summary and "<details" not in summary
    assert "Deploy to production" not in summary
    notes = github_server.state.repo(REPO).annotations[run["id"]]
    # (besides squawk's warnings on the pending migrations)
    assert [(a["path"], a["start_line"]) for a in notes
            if a["annotation_level"] == "failure"] == [
        ("migrations/20260301000000_add_note.sql", 4)]
    assert reactions(github_server, payload["comment"]["id"]) == ["eyes", "confused"]
    with psycopg.connect(world["staging"]) as conn:
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'"
                              ).fetchone()
        history = conn.execute("select to_regclass('supabase_migrations.schema_migrations')"
                               ).fetchone()
    assert tables == (0,)  # staging was empty before, and is again
    assert history is not None
    github_server.assert_no_validation_errors()


async def test_refusals_are_explained_and_deploy_nothing(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "hi\n"})
    github_server.state.add_pull(REPO, 9, head_sha=sha, user_login="rita")
    github_server.state.add_pull(REPO, 10, head_sha=sha, user_login="alice",
                                 head_repo="mallory/backend")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        cases = [
            ("/deploy staging", 9, "rita", "needs **write** permission"),
            ("/deploy prod", 9, "alice", "there is no environment `prod`"),
            ("/deploy staging", 10, "alice", "comes from a fork"),
            ("/deploy staging now", 9, "alice", "unexpected `now`"),
        ]
        for body, pr, user, _ in cases:
            await bot.send("issue_comment", post_comment(github_server, body, pr=pr, user=user))
        # the bot's own comments and other bots never trigger anything
        from_bot = post_comment(github_server, "/deploy staging", pr=9, user="deploybot[bot]",
                                user_type="Bot")
        await bot.send("issue_comment", from_bot)

        def replies() -> list[str]:
            return [c["body"] for c in github_server.state.repo(REPO).comments.values()
                    if "<!-- deploybot -->" in c["body"]]

        await wait_for(lambda: len(replies()) >= len(cases), what="the refusals")
        # the same refusal again: the earlier reply is edited, not repeated
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=9,
                                                     user="rita"))
        repeated = await wait_for(lambda: [b for b in replies() if "Asked 2 times" in b],
                                  what="the edited refusal")
    assert len(replies()) == len(cases)
    assert repeated[0].count("needs **write** permission") == 1
    text = "\n".join(replies())
    for _, _, _, expected in cases:
        assert expected in text
    assert "`staging`, `production`" in text or "`production`, `staging`" in text
    assert github_server.state.repo(REPO).check_runs == {}
    assert reactions(github_server, from_bot["comment"]["id"]) == []
    github_server.assert_no_validation_errors()
