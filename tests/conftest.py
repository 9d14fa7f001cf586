"""Shared fixtures: every test gets its own PostgreSQL database and Redis key space.

The servers are real (DESIGN.md, Tests). `.ci/test` exports TEST_DATABASE_URL and
TEST_REDIS_URL after making sure both servers run; the defaults match a developer
machine with the services on their standard ports.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import redis.asyncio as aioredis
from hypothesis import settings as hypothesis_settings
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from service.embedded import environment_database

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHIM = REPO / "service" / "embedded" / "platform_shim.sql"

# The fuzzers draw the same examples on every run by default, so a run's verdict depends on
# the commit alone; `HYPOTHESIS_PROFILE=explore` draws new ones to hunt for bugs (a failure
# prints the seed that replays it). Loaded here, before any test module builds its settings.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# One Deno cache for every test (preflight fetches the functions' npm: imports into it), so
# a dependency downloads once per machine, not once per test's data directory.
os.environ.setdefault("DEPLOYBOT_DENO_DIR",
                      str(Path(tempfile.gettempdir()) / f"deploybot-tests-deno-{os.getuid()}"))


def database_url(name: str) -> str:
    """The admin URL with its database replaced by `name`."""
    base, _, query = ADMIN_URL.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


def create_database(prefix: str = "t") -> str:
    """A new database for the bot's own use (a ledger), owned by the admin."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    """Drop the database and, if it was an environment's, its owner role."""
    environment_database.drop(ADMIN_URL, name)


def prepare_environment(url: str, *, shim: bool = True) -> str:
    """Make the database at `url` an environment database as the bot does: owned by a
    least-privilege role of its own (not a superuser, the only one that may connect), with
    the platform shim applied by the admin. Returns that owner's URL — the one to deploy to."""
    name = str(conninfo_to_dict(url)["dbname"])
    return environment_database.prepare(ADMIN_URL, name, shim=shim)


def admin_url_of(url: str) -> str:
    """The admin's URL of the database `url` points at (for a test's own set-up)."""
    return database_url(str(conninfo_to_dict(url)["dbname"]))


@pytest.fixture
def fresh_db() -> Iterator[str]:
    """URL of a new, empty environment database as its least-privilege owner role (not a
    superuser); database and role are dropped after the test."""
    name = create_database()
    try:
        yield prepare_environment(database_url(name), shim=False)
    finally:
        drop_database(name)


@pytest.fixture
def shim_db(fresh_db: str) -> str:
    """A new environment database prepared like a Supabase project (platform shim applied
    by the admin); the URL is its owner role's."""
    return prepare_environment(fresh_db)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards, and arq's
    keys of its jobs (arq names them `arq:job:<job id>`, and job ids start with it)."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)

    async def _clean() -> None:
        # SCAN's default COUNT is 10: on a Redis holding 100k other keys (a benchmark's,
        # a shared server's) each test's cleanup took 10k round trips per pattern.
        for pattern in (f"{prefix}*", f"arq:*:{prefix}*", f"arq:*:cron:{prefix}*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                await client.delete(key)
        await client.aclose()

    import asyncio

    asyncio.run(_clean())


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()

# The test GitHub server (our own Starlette app on loopback) and an App client pointed at it.
from tests.github_server.fixtures import (  # noqa: E402, F401
    github_app,
    github_app_keys,
    github_server,
)
