"""The request queue and the environment lease, end to end: comments through the real
webhook endpoint, real arq workers (several in this process, or one in a process of its own
that gets killed), real Redis and PostgreSQL, the test GitHub server. Deployments run an
injected plan (WorkerContext.plan) so the tests exercise the queue machinery, not the
runbook."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.bot import REPO, post_comment
from tests.conftest import create_database, database_url, drop_database
from tests.fixture_repo import make_repo
from tests.github_server.server import GitHubTestServer
from tests.queue.plans import gated, sleeping
from tests.queue.support import QueueBot, queue_bot, replies, until

USERS = ["alice", "bob", "carol", "dave"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    name = create_database("bot")
    bot = database_url(name)
    # The injected plan never touches the environment's database; staging still has to
    # resolve, so it points at the bot's own database.
    monkeypatch.setenv("STAGING_DATABASE_URL", bot)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    repo = make_repo(tmp_path / "repo")
    github_server.state.add_repo(REPO, git=repo)
    sha = github_server.state.repo(REPO).git.rev_parse("main") if hasattr(
        github_server.state.repo(REPO), "git") else None
    for user in USERS:
        github_server.state.set_permission(REPO, user, "write")
    try:
        yield {"bot": bot, "data": tmp_path / "data", "sha": sha, "repo": repo}
    finally:
        drop_database(name)
