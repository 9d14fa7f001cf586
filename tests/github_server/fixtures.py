"""pytest fixtures of the test GitHub server. tests/conftest.py imports them:

    from tests.github_server.fixtures import github_app, github_app_keys, github_server  # noqa

`github_server`: a running GitHubTestServer (fresh state, faults, request log) per test.
`github_app`: the bot's GitHubApp pointed at it, with the test's Redis key prefix and quick
retries (no test waits a real minute for a rate limit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from service.github import GitHubApp, RetryPolicy

from .keys import AppKeys, generate_app_keys
from .server import GitHubTestServer

FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, min_backoff=0.05,
                         max_wait=5.0)


@pytest.fixture(scope="session")
def github_app_keys() -> AppKeys:
    """One RSA key pair per test session (generating one takes a moment)."""
    return generate_app_keys()


@pytest.fixture
def github_server(github_app_keys: AppKeys) -> Iterator[GitHubTestServer]:
    with GitHubTestServer.running(github_app_keys) as server:
        yield server


@pytest.fixture
async def github_app(github_server: GitHubTestServer, redis_client: aioredis.Redis,
                     redis_prefix: str) -> AsyncIterator[GitHubApp]:
    app = GitHubApp(github_server.app_id, github_server.private_key, github_server.url,
                    redis_client, redis_prefix, retry=FAST_RETRY, timeout=10.0)
    yield app
    await app.aclose()
