"""Fixtures of the queue tests: the bot's database with the test GitHub server holding the
fixture repository and four pull requests, and a worker's context for calling jobs
directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service import queue
from service.github import GitHubApp
from service.ledger.db import ensure_schema
from service.settings import Settings
from tests.app.bot import REPO
from tests.conftest import REDIS_URL, create_database, database_url, drop_database
from tests.fixture_repo import CONFIG, git, make_repo
from tests.github_server.fixtures import FAST_RETRY
from tests.github_server.server import GitHubTestServer
from tests.queue.plans import sleeping
from tests.queue.support import USERS
from workers.jobs.context import WorkerContext

# Ten more environments, for a worker running as many deployments as it has job slots.
SPARE = [f"env{i:02d}" for i in range(1, 11)]
QUEUE_CONFIG = CONFIG + "".join(
    f"  {name}:\n    database_url_env: STAGING_DATABASE_URL\n"
    "    anon_key_env: STAGING_ANON_KEY\n" for name in SPARE)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    name = create_database("bot")
    bot = database_url(name)
    # The injected plans never touch the environment's database, but staging must still
    # resolve: point it at the bot's own database.
    monkeypatch.setenv("STAGING_DATABASE_URL", bot)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    repo = make_repo(tmp_path / "repo", QUEUE_CONFIG)
    sha = git(repo, "rev-parse", "HEAD")
    github_server.state.add_repo(REPO, git=repo)
    for pr, user in USERS.items():
        github_server.state.set_permission(REPO, user, "write")
        github_server.state.add_pull(REPO, pr, head_sha=sha, user_login=user)
    try:
        yield {"bot": bot, "data": tmp_path / "data", "sha": sha}
    finally:
        drop_database(name)


@pytest.fixture
async def worker_ctx(world: dict[str, Any], redis_prefix: str,
                     github_server: GitHubTestServer) -> AsyncIterator[WorkerContext]:
    """What arq's startup gives every job (workers/arq_settings.py), for calling jobs
    directly; deployments run a short sleep."""
    await ensure_schema(world["bot"])
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        world["bot"], min_size=1, max_size=4, open=False,
        kwargs={"autocommit": True, "row_factory": dict_row})
    await pool.open(wait=True)
    redis = await queue.connect(REDIS_URL)
    github = GitHubApp(github_server.app_id, github_server.private_key, github_server.url,
                       redis, redis_prefix, retry=FAST_RETRY)
    settings = Settings(data_dir=world["data"], database_url=world["bot"],
                        redis_url=REDIS_URL, redis_prefix=redis_prefix)
    try:
        yield WorkerContext(settings=settings, db=pool, redis=redis, github=github,
                            database_url=world["bot"], lease_ttl=5.0, plan=sleeping(0.01))
    finally:
        await github.aclose()
        await redis.aclose()
        await pool.close()
