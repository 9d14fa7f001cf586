"""Production is touched only when every pre-production checklist item holds. Each gate,
broken on its own, blocks `/deploy production` with a reply that names it; with all of them
met the deployment runs, announced first, and its check run shows the checklist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.app.bot import REPO, Bot, post_comment, running_bot, wait_for
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import commit, make_repo
from tests.github_server.server import GitHubTestServer

OPEN = "Mon-Sun 00:00-24:00 UTC"
TOMORROW = (datetime.now(UTC) + timedelta(days=2)).strftime("%a")  # never today


def config(window: str = OPEN, backup: bool = True) -> str:
    return f"""\
default_branch: main
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
    anon_key_env: STAGING_ANON_KEY
  production:
    production: true
    database_url_env: PRODUCTION_DATABASE_URL
    anon_key_env: PRODUCTION_ANON_KEY
    required_permission: maintain
    approvals: 1
    requires_staging: staging
    deploy_window: "{window}"
    backup: {str(backup).lower()}
"""


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg"), create_database("prd")]
    bot, staging, production = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    production = prepare_environment(production)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("PRODUCTION_DATABASE_URL", production)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-staging")
    monkeypatch.setenv("PRODUCTION_ANON_KEY", "anon-production")
    repo = make_repo(tmp_path / "repo", config())
    github_server.state.add_repo(REPO, git=repo)
    for login, role in (("alice", "maintain"), ("bob", "write"), ("dora", "write")):
        github_server.state.set_permission(REPO, login, role)
    try:
        yield {"bot": bot, "production": production, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


def bot_replies(github: GitHubTestServer, pr: int) -> list[str]:
    return [c["body"] for c in github.state.repo(REPO).comments_on(pr)
            if c["body"].startswith("<!-- deploybot -->")]


def bot_reply_versions(github: GitHubTestServer, pr: int) -> dict[int, str]:
    """The bot's replies by id, as each reads now (a repeated refusal is edited)."""
    return {int(c["id"]): f'{c.get("updated_at")}\n{c["body"]}'
            for c in github.state.repo(REPO).comments_on(pr)
            if c["body"].startswith("<!-- deploybot -->")}


async def ask(bot: Bot, github: GitHubTestServer, body: str, pr: int,
              user: str = "alice") -> str:
    """Comment and wait for the bot's reply to it: a new reply, or an earlier one edited."""
    before = bot_reply_versions(github, pr)
    await bot.send("issue_comment", post_comment(github, body, pr=pr, user=user))

    def answered() -> list[str]:
        now = bot_reply_versions(github, pr)
        return [text.split("\n", 1)[1] for i, text in now.items() if before.get(i) != text]

    replies = await wait_for(answered, what=f"a reply to {body!r}")
    return str(replies[0])


def runs(github: GitHubTestServer, name: str) -> list[dict[str, Any]]:
    return [r for r in github.state.repo(REPO).check_runs.values() if r["name"] == name]


def set_config(repo: Path, text: str) -> None:
    (repo / ".github" / "deploybot.yml").write_text(text)
    commit(repo, "config")


async def test_each_gate_blocks_production_on_its_own(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    repo: Path = world["repo"]
    sha = _head(repo)
    state = github_server.state
    state.add_pull(REPO, 21, head_sha=sha, user_login="dora")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        # staging first: not deployed there yet
        reply = await ask(bot, github_server, "/deploy production", 21)
        assert "has not been deployed to `staging`" in reply
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=21))
        staging = await wait_for(lambda: [r for r in runs(github_server, "deploybot/staging")
                                          if r.get("conclusion") == "success"], what="staging")
        # production's checklist does not hold yet: no button, and how many items do not
        assert [a["identifier"] for a in staging[0]["actions"]] == ["rollback"]
        assert "`production`: 2 of 6 pre-production checklist items do not hold" in \
            staging[0]["output"]["summary"]
        # approvals: none yet, then changes requested
        reply = await ask(bot, github_server, "/deploy production", 21)
        assert "0 of 1 approval" in reply and "staging" in reply
        state.add_review(REPO, 21, user_login="bob", state="CHANGES_REQUESTED")
        assert "changes requested by @bob" in await ask(bot, github_server,
                                                        "/deploy production", 21)
        state.add_review(REPO, 21, user_login="bob", state="APPROVED")
        # leaked password protection: neither a Supabase project nor confirmed
        reply = await ask(bot, github_server, "/deploy production", 21)
        assert "Leaked password protection" in reply and "/confirm production" in reply
        assert "✅ Recorded" in await ask(
            bot, github_server, "/confirm production leaked-password-protection", 21)
        # required checks: a failing status
        state.add_status(REPO, sha, "ci/tests", "failure")
        assert "failing: ci/tests (failure)" in await ask(bot, github_server,
                                                          "/deploy production", 21)
        state.add_status(REPO, sha, "ci/tests", "success")
        # the deploy window (the config comes from the default branch)
        set_config(repo, config(window=f"{TOMORROW} 09:00-10:00 UTC"))
        reply = await ask(bot, github_server, "/deploy production", 21)
        assert "Inside the deploy window" in reply and "--force" in reply
        # backups turned off
        set_config(repo, config(backup=False))
        assert "backups are off" in await ask(bot, github_server, "/deploy production", 21)
        set_config(repo, config())
        # a writer may not deploy production at all
        assert "needs **maintain** permission" in await ask(
            bot, github_server, "/deploy production", 21, user="bob")
        assert runs(github_server, "deploybot/production") == []  # production untouched
        with psycopg.connect(world["production"]) as conn:
            assert conn.execute("select to_regclass('public.quotes')").fetchone() == (None,)
        # each refusal is on record for the audit trail, none of them a deployment (the
        # permission refusal is not a checklist's: the request never reached it)
        with psycopg.connect(world["bot"]) as conn:
            refused = conn.execute(
                "select status, record_kind, failed_step, details->'checklist'->>'headline' "
                "from ledger.deployments where environment = 'production' order by id"
            ).fetchall()
        assert len(refused) == 7
        assert {r[:3] for r in refused} == {("refused", "refused", "gates")}
        assert all(" checklist items " in r[3] and " not hold" in r[3] for r in refused)
        # every item holds: production is deployed, announced first
        await bot.send("issue_comment", post_comment(github_server, "/deploy production",
                                                     pr=21))
        run = await wait_for(lambda: [r for r in runs(github_server, "deploybot/production")
                                      if r.get("status") == "completed"],
                             what="the production deployment")
        with psycopg.connect(world["production"]) as conn:
            deployed = conn.execute(
                "select to_regclass('public.quotes') is not null, "
                "(select release_id from deploybot.active_function_release)").fetchone()
        assert deployed is not None and deployed[0] and deployed[1] is not None
        # /rollback production: schema, data and the function release as before
        await bot.send("issue_comment", post_comment(github_server, "/rollback production",
                                                     pr=21))
        await wait_for(lambda: len([r for r in runs(github_server, "deploybot/production")
                                    if r.get("status") == "completed"]) == 2,
                       what="the rollback of production")
        with psycopg.connect(world["production"]) as conn:
            after = conn.execute(
                "select to_regclass('public.quotes'), "
                "(select release_id from deploybot.active_function_release), "
                "(select count(*) from supabase_migrations.schema_migrations)").fetchone()
        assert after == (None, None, 0)
        rollback_run = runs(github_server, "deploybot/production")[1]
        assert rollback_run["conclusion"] == "success", rollback_run["output"]["summary"]
    assert run[0]["conclusion"] == "success", run[0]["output"]["summary"]
    summary = run[0]["output"]["summary"]
    assert "Pre-production checklist" in summary
    assert "| **Approved (1 approval, no changes requested)** | ✅ holds: approved by @bob" \
        in summary
    assert "❌ does not hold" not in summary and "- [x]" not in summary
    # the step's log is plain text (GitHub shows it in a code block: no markdown there) …
    log = run[0]["output"].get("text", "")
    assert "✓ Approved (1 approval" in log and "**Approved" not in log
    announced = [b for b in bot_replies(github_server, 21) if "📣 Deploying" in b]
    assert len(announced) == 1
    assert "| **Approved (1 approval" in announced[0]  # … the comment is markdown
    github_server.assert_no_validation_errors()


def _head(repo: Path) -> str:
    from tests.fixture_repo import git

    return git(repo, "rev-parse", "HEAD")
