"""A person in a real browser: signs in with GitHub, opens a deployment while it runs and
sees its steps arrive live, then presses Rollback and watches the rollback run — the whole
bot underneath (webhook endpoint, arq worker, PostgreSQL, Redis, test GitHub server)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import psycopg

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.dashboard.support import dashboard_config, running_dashboard
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer

# A migration that takes a few seconds, so there is a running deployment to watch.
SLOW = {"migrations/20260401000000_slow_backfill.sql": "select pg_sleep(4);\n",
        "migrations/rollback/20260401000000_slow_backfill.sql":
            "-- deploybot:rollback no-op\n"}


def _row(url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchone()


def running_migrate(url: str) -> int | None:
    row = _row(url, """SELECT d.id FROM ledger.deployments d
                       JOIN ledger.deployment_steps s ON s.deployment_id = d.id
                       WHERE d.status = 'running' AND s.name = 'migrate'
                         AND s.status = 'running'""")
    return int(row[0]) if row else None


async def test_sign_in_watch_a_deployment_live_and_roll_it_back(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer, chromium: Any, artifacts: Path) -> None:
    sha = branch_with(world["repo"], "slow", SLOW)
    github_server.state.add_pull(REPO, 21, head_sha=sha, user_login="alice")
    config = dashboard_config(github_server, world["data"])
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        with running_dashboard(world["bot"], redis_prefix, config) as dash:
            page = await chromium.new_page(viewport={"width": 1280, "height": 900})

            # Sign in with GitHub: the dashboard sends the person to GitHub and back.
            await page.goto(f"{dash}/")
            await page.click("#github-sign-in")
            await page.fill("#login_field", "alice")
            await page.click("#authorize")
            await page.wait_for_url(f"{dash}/")
            assert "alice" in await page.inner_text("header.top")
            await page.screenshot(path=artifacts / "1-signed-in.png", full_page=True)

            # A deployment starts; open its page while it runs.
            await bot.send("issue_comment",
                           post_comment(github_server, "/deploy staging", pr=21))
            dep_id = await wait_for(lambda: running_migrate(world["bot"]),
                                    what="the migrate step to run")
            await page.goto(f"{dash}/deployments/{dep_id}")
            await page.evaluate("window.__sameDocument = true")
            assert "running" in await page.inner_text("#dep-head")
            assert "st-ok" not in (await page.get_attribute("#step-smoke", "class") or "")
            await page.screenshot(path=artifacts / "2-running.png", full_page=True)

            # Steps arrive live: no reload, the stream fills them in.
            await page.wait_for_selector("#step-migrate.st-ok", timeout=90_000)
            await page.wait_for_selector("body[data-finished='succeeded']", timeout=90_000)
            assert await page.evaluate("window.__sameDocument === true")
            assert "20260401000000_slow_backfill" in await page.inner_text("#log-migrate")
            assert await page.is_visible("#step-smoke.st-ok")
            await page.click("#step-smoke summary")  # open the smoke tests' log
            await page.screenshot(path=artifacts / "3-finished.png", full_page=True)

            # Rollback: confirm, then follow the request until its deployment has run.
            assert await page.is_visible("#rollback-form button")
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.click("#rollback-form button")
            await page.wait_for_url(re.compile(rf"/deployments/(?!{dep_id}$)\d+$"),
                                    timeout=90_000)
            await page.wait_for_selector("#dep-head .dep-title .pill-ok", timeout=90_000)
            head = await page.inner_text("#dep-head")
            assert "rollback to staging" in head and f"deployment #{dep_id}" in head
            await page.screenshot(path=artifacts / "4-rolled-back.png", full_page=True)

            # the release it undid is marked undone after the reports: wait for the end
            await wait_for(lambda: _row(world["bot"], "SELECT status FROM ledger.requests "
                                                      "WHERE trigger = 'dashboard'") == ("done",),
                           what="the rollback request to finish")
            await page.goto(f"{dash}/")
            overview = await page.inner_text("main")
            assert "no successful deployment yet" in overview  # staging is as before
            await page.screenshot(path=artifacts / "5-overview.png", full_page=True)
            await page.goto(f"{dash}/history")
            await page.screenshot(path=artifacts / "6-history.png", full_page=True)
        # A rollback from the dashboard is shown on GitHub like any other: its own check run
        # and GitHub deployment, concluded (the worker creates them; the web process does
        # not call GitHub).
        check_run, gh_dep = _row(world["bot"], "SELECT check_run_id, gh_deployment_id FROM "
                                               "ledger.requests WHERE trigger = 'dashboard'")
        repo = github_server.state.repo(REPO)
        await wait_for(lambda: repo.check_runs[check_run].get("conclusion") == "success",
                       what="the rollback's check run")
        await wait_for(lambda: repo.deployment_statuses[gh_dep][-1]["state"] == "success",
                       what="the rollback's GitHub deployment")
    rollback = _row(world["bot"], "SELECT kind, trigger, requested_by, status FROM "
                                  "ledger.deployments ORDER BY id DESC LIMIT 1")
    assert rollback == ("rollback", "dashboard", "alice", "succeeded")
