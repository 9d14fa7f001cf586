"""Fixtures of the GitHub client tests: the test GitHub server (tests/github_server) and a
factory of GitHubApp instances whose sleeps and clock the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.github import GitHubApp, RetryPolicy
from tests.conftest import REDIS_URL
from tests.github.support import REPO, MakeApp, Sleeps
from tests.github_server import GitHubTestServer
from tests.github_server.fixtures import github_app, github_app_keys, github_server

__all__ = ["github_app", "github_app_keys", "github_server"]


@pytest.fixture
async def make_app(github_server: GitHubTestServer, redis_prefix: str
                   ) -> AsyncIterator[MakeApp]:
    """make_app(**GitHubApp keyword arguments) → a GitHubApp on the test server, closed (and
    its own Redis connection too) after the test."""
    made: list[tuple[GitHubApp, aioredis.Redis]] = []

    async def make(**kwargs: Any) -> GitHubApp:
        client = aioredis.Redis.from_url(REDIS_URL)
        options: dict[str, Any] = {"retry": RetryPolicy(base_delay=1.0, max_delay=30.0,
                                                        min_backoff=60.0, max_wait=900.0),
                                   "sleep": Sleeps(), "timeout": 10.0}
        options.update(kwargs)
        app = GitHubApp(github_server.app_id, options.pop("private_key",
                                                          github_server.private_key),
                        github_server.url, client, redis_prefix, **options)
        made.append((app, client))
        return app

    yield make
    for app, client in made:
        await app.aclose()
        await client.aclose()


@pytest.fixture
def repo(github_server: GitHubTestServer) -> str:
    """A repository the App is installed on (no git behind it)."""
    github_server.state.add_repo(REPO, refs={"main": "a" * 40})
    return REPO
