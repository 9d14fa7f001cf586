"""Every comment, check run, GitHub request, log line and dashboard page produced while
deployments run — one that succeeds and one that fails and is rolled back — scanned for the
secrets in play: the staging database password, the anon key, the App's private key, the
installation tokens, the webhook secret, the OAuth client secret and the sign-in token.
None may appear."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from service.observability import logs
from service.observability.redact import register_secrets_in_play
from service.settings import GitHubAppSettings
from tests.app.bot import (
    REPO,
    SECRET,
    post_comment,
    requests_settled,
    running_bot,
    wait_for,
)
from tests.app.test_pr_deploy import BROKEN
from tests.conftest import (
    REDIS_URL,
    create_database,
    database_url,
    drop_database,
    prepare_environment,
)
from tests.dashboard.support import CLIENT_SECRET, TOKEN, dashboard_config, running_dashboard
from tests.fixture_repo import branch_with, make_repo
from tests.github_server.server import GitHubTestServer

PASSWORD = "Stg-" + secrets.token_hex(8)
ANON_KEY = "anon-" + secrets.token_hex(12)


def with_password(url: str, password: str) -> str:
    """The URL with a password (the test server trusts local connections, so any works)."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user or 'postgres'}:{password}@{host}"))


@pytest.fixture
def secret_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    monkeypatch.setenv("STAGING_DATABASE_URL", with_password(staging, PASSWORD))
    monkeypatch.setenv("STAGING_ANON_KEY", ANON_KEY)
    repo = make_repo(tmp_path / "repo")
    github_server.state.add_repo(REPO, git=repo)
    github_server.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "repo": repo, "data": tmp_path / "data", "tmp": tmp_path}
    finally:
        for n in names:
            drop_database(n)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def completed_runs(github: GitHubTestServer) -> list[dict[str, Any]]:
    return [r for r in github.state.repo(REPO).check_runs.values()
            if r.get("status") == "completed"]


async def test_no_secret_reaches_github_logs_or_pages(
        secret_world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer,
        log_lines: io.StringIO) -> None:
    app = GitHubAppSettings(app_id=str(github_server.app_id),
                            private_key=github_server.private_key, webhook_secret=SECRET,
                            api_url=github_server.url)
    # What `deploybot worker` and `deploybot serve` register at start.
    register_secrets_in_play(database_urls=[secret_world["bot"], REDIS_URL], app=app)
    repo = secret_world["repo"]
    good = branch_with(repo, "feature", {"README.md": "secrets\n"})
    bad = branch_with(repo, "broken", {
        "migrations/20260301000000_add_note.sql": BROKEN,
        "migrations/rollback/20260301000000_add_note.sql":
            "alter table public.quotes drop column if exists note;\n"})
    # SQL output holding secrets: a migration whose error quotes a connection string and a
    # key (as a failing dblink or a printed setting would), shown in the check run's
    # annotation, the summary comment and the escalation
    leaky = branch_with(repo, "leaky", {
        "migrations/20260301000001_leak.sql":
            "do $$ begin raise exception 'cannot reach postgresql://app:%@db/x with key %', "
            f"'{PASSWORD}', '{ANON_KEY}'; end $$;\n",
        "migrations/rollback/20260301000001_leak.sql": "select 1;\n"})
    github_server.state.add_pull(REPO, 7, head_sha=good, user_login="alice")
    github_server.state.add_pull(REPO, 8, head_sha=bad, user_login="alice")
    github_server.state.add_pull(REPO, 9, head_sha=leaky, user_login="alice")
    pages: dict[str, str] = {}
    config = dashboard_config(github_server, secret_world["data"])
    async with running_bot(github_server, secret_world["bot"], redis_prefix,
                           secret_world["data"]) as bot:
        with running_dashboard(secret_world["bot"], redis_prefix, config) as dash:
            for pr in (7, 8, 9):
                await bot.send("issue_comment",
                               post_comment(github_server, "/deploy staging", pr=pr))
                await wait_for(lambda n=pr - 6: len(completed_runs(github_server)) == n,
                               what=f"deployment {pr - 6}")
            # the summary comments and escalations follow the check runs: all are scanned
            await wait_for(lambda: requests_settled(secret_world["bot"]),
                           what="every request to end")
            assert [r["conclusion"] for r in completed_runs(github_server)] == [
                "success", "failure", "failure"]
            leak_report = completed_runs(github_server)[2]["output"]["summary"]
            assert "cannot reach" in leak_report and "[redacted]" in leak_report
            async with httpx.AsyncClient(base_url=dash) as client:
                login = await client.post("/login/token", data={"token": TOKEN},
                                          headers={"Origin": dash})
                assert login.status_code == 303
                paths = ["/", "/history", "/deployments/1", "/deployments/2",
                         "/deployments/1/events", "/deployments/2/events", "/requests/1",
                         "/metrics", "/setup", "/deployments/999", "/login"]
                for path in paths:
                    pages[path] = (await client.get(path)).text
                csrf = re.search(r'name="csrf" value="([^"]+)"', pages["/"])
                assert csrf
                pages["(bad form)"] = (await client.post(
                    "/actions/rollback", data={"deployment": "x", "csrf": csrf.group(1)},
                    headers={"Origin": dash})).text
                pages["(metrics of the bot)"] = (await client.get(f"{bot.url}/metrics")).text

    assert "applying" in pages["/deployments/1"].lower() or "migrat" in pages["/deployments/1"]
    state = github_server.state
    tokens = [t.token for t in state.tokens_minted]
    assert tokens, "the worker used installation tokens"
    key_lines = [line for line in github_server.private_key.splitlines()
                 if line and "-----" not in line]
    in_play = {"the staging database password": [PASSWORD], "the anon key": [ANON_KEY],
               "the webhook secret": [SECRET], "an installation token": tokens,
               "the private key": key_lines, "the OAuth client secret": [CLIENT_SECRET],
               "the sign-in token": [TOKEN]}
    github_text = {
        "requests to GitHub": json.dumps([r.body for r in state.requests], default=str),
        "comments": json.dumps(list(state.repo(REPO).comments.values()), default=str),
        "check runs": json.dumps([state.repo(REPO).check_runs,
                                  state.repo(REPO).check_run_requests,
                                  state.repo(REPO).annotations], default=str),
        "issues": json.dumps(list(state.repo(REPO).issues.values()), default=str),
        "deployment statuses": json.dumps(state.repo(REPO).deployment_statuses, default=str),
    }
    log_text = log_lines.getvalue()
    assert len(log_text.splitlines()) > 20  # the run was logged
    entries = [json.loads(line) for line in log_text.splitlines()]
    assert all("delivery_id" in e and "deployment_id" in e for e in entries)
    assert {e["deployment_id"] for e in entries} >= {1, 2}  # a deployment's lines name it
    assert any(e["delivery_id"] and e.get("job") == "handle_delivery" for e in entries)
    places = {**github_text, "log lines": log_text,
              **{f"page {p}": t for p, t in pages.items()}}
    found = [f"{what} in {where}" for where, text in places.items()
             for what, values in in_play.items() for v in values if v in text]
    assert not found, "secrets leaked: " + "; ".join(sorted(set(found)))
