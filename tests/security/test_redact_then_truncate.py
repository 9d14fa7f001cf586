"""Redact, then truncate: a failure whose output is ~200 KB and quotes a password reaches the
reviewer — the check run concludes `failure` with the failure in it, GitHub (the test server,
which refuses over-limit bodies with 422 as GitHub does) takes every body, no body carries
the password, and every body is within GitHub's limits.

Cutting first and redacting after grows a cut body past the limit whenever a secret is
shorter than the mask (here an 8-character password becomes `[redacted]`): GitHub answered
422 three times and the check run stayed `in_progress`."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from service.github import limits
from service.github.outgoing import prepare
from service.observability.redact import MASK, register
from tests.app.bot import REPO, post_comment, requests_settled, running_bot, wait_for
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, make_repo
from tests.github_server.server import GitHubTestServer

# Shorter than the mask, so redacting it makes a body longer.
PASSWORD = "Pw" + secrets.token_hex(3)
PUBLIC_URL = "https://deploybot.example.com"
LINE = f"login failed for user app with password={PASSWORD}; "
LEAKY_MIGRATION = (
    "do $$ begin\n"
    f"  raise exception '%', repeat('{LINE}', 4000);\n"  # ~200 KB of error, one line
    "end $$;\n")

CHECK_RUN = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
COMMENT = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
STATUS = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
ISSUE = "/repos/{owner}/{repo}/issues"


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user or 'postgres'}:{password}@{host}"))


def _within_limits(body: Any) -> list[str]:
    """What in one request body GitHub would refuse for its size."""
    if not isinstance(body, dict):
        return []
    over = []
    output = body.get("output") if isinstance(body.get("output"), dict) else {}
    for key in ("summary", "text"):
        if len(output.get(key) or "") > limits.OUTPUT_TEXT_MAX:
            over.append(f"output.{key}")
    for a in output.get("annotations") or []:
        for key in ("message", "raw_details"):
            if len((a.get(key) or "").encode()) > limits.ANNOTATION_TEXT_MAX_BYTES:
                over.append(f"annotation {key}")
        if len(a.get("title") or "") > limits.ANNOTATION_TITLE_MAX:
            over.append("annotation title")
    if len(body.get("body") or "") > limits.COMMENT_MAX:
        over.append("body")
    if len(body.get("description") or "") > limits.DEPLOYMENT_STATUS_DESCRIPTION_MAX:
        over.append("description")
    return over


# -- the rule itself, route by route ------------------------------------------------------

@pytest.fixture
def password() -> str:
    register(PASSWORD)
    return PASSWORD


def test_each_limited_body_is_redacted_then_cut(password: str) -> None:
    long = LINE * 4000
    bodies = {
        CHECK_RUN: {"details_url": f"{PUBLIC_URL}/deployments/1", "output": {
            "title": "failed", "summary": long, "text": long,
            "annotations": [{"path": "m.sql", "start_line": 1, "end_line": 1,
                             "annotation_level": "failure", "message": long,
                             "raw_details": long, "title": long}]}},
        COMMENT: {"body": long},
        ISSUE: {"title": long, "body": long},
        STATUS: {"state": "failure", "description": LINE * 3},
    }
    for route, body in bodies.items():
        sent = prepare(route, body, link=f"{PUBLIC_URL}/deployments/1")
        text = json.dumps(sent)
        assert password not in text and MASK in text, route
        assert not _within_limits(sent), route
    check_run = prepare(CHECK_RUN, bodies[CHECK_RUN])
    assert f"{PUBLIC_URL}/deployments/1" in check_run["output"]["summary"][-200:]
    comment = prepare(COMMENT, bodies[COMMENT], link=f"{PUBLIC_URL}/deployments/1")
    assert f"{PUBLIC_URL}/deployments/1" in comment["body"][-200:]
    # the cut keeps the start, redacted: nothing of the password survives half-cut
    assert comment["body"].startswith(f"login failed for user app with password={MASK}")


def test_a_body_at_the_limit_still_fits_once_redacted(password: str) -> None:
    # cut first, this body would be exactly at the limit and then grow by the mask
    body = {"body": (LINE * 2000)[:limits.COMMENT_MAX]}
    sent = prepare(COMMENT, body)
    assert len(sent["body"]) <= limits.COMMENT_MAX and password not in sent["body"]
    status = prepare(STATUS, {"state": "failure",
                              "description": ("x" * 120 + PASSWORD)[:140]})
    assert len(status["description"]) <= 140 and password not in status["description"]


# -- end to end: a deployment through the test GitHub server --------------------------------

@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    register(PASSWORD)  # what the worker registers at start (the URL's password)
    monkeypatch.setenv("STAGING_DATABASE_URL", _with_password(staging, PASSWORD))
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    repo = make_repo(tmp_path / "repo")
    github_server.state.add_repo(REPO, git=repo)
    github_server.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


async def test_a_200_kb_failure_quoting_a_password_reaches_the_reviewer(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "leaky", {
        "migrations/20260301000000_leak.sql": LEAKY_MIGRATION,
        "migrations/rollback/20260301000000_leak.sql": "select 1;\n"})
    github_server.state.add_pull(REPO, 11, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           public_url=PUBLIC_URL) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=11))
        # GitHub refusing the final report would leave it `in_progress`: this would time out
        await wait_for(lambda: [r for r in github_server.state.repo(REPO).check_runs.values()
                                if r["status"] == "completed"], what="the check run to end")
        await wait_for(lambda: requests_settled(world["bot"]), what="the request to end")

    state = github_server.state.repo(REPO)
    runs = list(state.check_runs.values())
    assert len(runs) == 1
    run = runs[0]
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    summary = run["output"]["summary"]
    assert "failed and was rolled back" in summary
    assert "20260301000000_leak.sql" in summary and "login failed for user app" in summary
    assert MASK in summary and f"{PUBLIC_URL}/deployments/" in summary
    failures = [n for n in state.annotations[run["id"]] if n["annotation_level"] == "failure"]
    assert [n["path"] for n in failures] == ["migrations/20260301000000_leak.sql"]
    assert MASK in failures[0]["message"]
    statuses = [s["state"] for d in state.deployment_statuses.values() for s in d]
    assert statuses[-1] == "failure"
    assert any("deploybot:deployment:" in c["body"] and "rolled back" in c["body"]
               for c in state.comments_on(11))

    refused = [f"{r.method} {r.path} → {r.status}" for r in github_server.state.requests
               if r.status == 422]
    assert not refused, refused
    github_server.assert_no_validation_errors()
    bodies = [r.body for r in github_server.state.requests if r.body]
    assert not [(i, over) for i, b in enumerate(bodies) if (over := _within_limits(b))]
    held = json.dumps([bodies, state.check_runs, state.annotations, list(state.comments.values()),
                       state.deployment_statuses, list(state.issues.values())], default=str)
    assert PASSWORD not in held
