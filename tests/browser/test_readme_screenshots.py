"""The README's pictures, taken by a real browser from a real deployment: the dashboard's
page of a deployment, and the check run and summary comment as GitHub shows them (their
markdown, as posted to the test GitHub server, rendered as CommonMark with GitHub's look).

`DEPLOYBOT_UPDATE_SCREENSHOTS=1` writes them to docs/screenshots/ for the README; otherwise
they go to test-artifacts/ like every browser test's."""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

import psycopg
from markdown_it import MarkdownIt

from tests.app.bot import REPO, post_comment, requests_settled, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.conftest import REPO as PROJECT
from tests.dashboard.support import dashboard_config, running_dashboard
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer

DOCS = PROJECT / "docs" / "screenshots"
# GitHub's look, roughly: enough that a reader recognises a check run and a comment.
STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       margin: 0; background: #f6f8fa; }
.box { max-width: 1060px; margin: 16px; background: #fff; border: 1px solid #d0d7de;
       border-radius: 6px; }
.head { padding: 8px 16px; background: #f6f8fa; border-bottom: 1px solid #d0d7de;
        border-radius: 6px 6px 0 0; font-weight: 600; }
.body { padding: 4px 16px 12px; }
table { border-collapse: collapse; } th, td { border: 1px solid #d0d7de; padding: 4px 10px; }
code { background: #eff1f3; padding: 1px 4px; border-radius: 4px; font-size: 85%; }
pre { background: #f6f8fa; padding: 10px; overflow: auto; }
h1, h2, h3 { margin: 12px 0 8px; }
"""


def _page(title: str, parts: list[tuple[str, str]]) -> str:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    boxes = "".join(f'<div class="box"><div class="head">{html.escape(head)}</div>'
                    f'<div class="body">{md.render(text)}</div></div>'
                    for head, text in parts)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{boxes}</body></html>")


def _keep(shot: Path, name: str) -> None:
    if os.environ.get("DEPLOYBOT_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / name)


async def test_the_readme_pictures_of_a_deployment(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer, chromium: Any, artifacts: Path) -> None:
    sha = branch_with(world["repo"], "new-printers", {
        "migrations/20260501000000_printer_models.sql":
            "create table public.printer_models (id bigint primary key, name text not null);\n"
            "alter table public.printer_models enable row level security;\n"})
    github_server.state.add_pull(REPO, 12, head_sha=sha, user_login="alice")
    config = dashboard_config(github_server, world["data"])
    repo = github_server.state.repo(REPO)
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=12))
        await wait_for(lambda: [r for r in repo.check_runs.values() if r.get("conclusion")],
                       what="the check run to conclude")
        await wait_for(lambda: requests_settled(world["bot"]), what="the reports to be sent")
        [check_run] = repo.check_runs.values()
        assert check_run["conclusion"] == "success"
        with running_dashboard(world["bot"], redis_prefix, config) as dash:
            page = await chromium.new_page(viewport={"width": 1200, "height": 800})
            await page.goto(f"{dash}/")
            await page.click("#github-sign-in")
            await page.fill("#login_field", "alice")
            await page.click("#authorize")
            await page.wait_for_url(f"{dash}/")
            with psycopg.connect(world["bot"]) as conn:
                row = conn.execute("SELECT max(id) FROM ledger.deployments").fetchone()
            assert row is not None
            await page.goto(f"{dash}/deployments/{row[0]}")
            await page.wait_for_selector("#step-smoke.st-ok")
            await page.click("#step-smoke summary")
            shot = artifacts / "dashboard-deployment.png"
            await page.screenshot(path=shot, full_page=True)
            _keep(shot, "dashboard-deployment.png")

            output = check_run["output"]
            summary = [c["body"] for c in repo.comments_on(12)
                       if "<!-- deploybot:deployment:" in c["body"]]
            assert summary, "the summary comment"
            page = await chromium.new_page(viewport={"width": 1100, "height": 600})
            await page.set_content(_page("check run", [
                (f"{check_run['name']} — {output['title']}",
                 output["summary"] + "\n\n" + (output.get("text") or "")),
                ("deploybot commented", summary[-1])]))
            shown = await page.inner_text("body")
            # What GitHub would show: the steps, and nothing of this machine.
            assert "Smoke tests" in shown and "127.0.0.1" not in shown
            shot = artifacts / "check-run.png"
            await page.screenshot(path=shot, full_page=True)
            _keep(shot, "check-run.png")
