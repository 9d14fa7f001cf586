"""Deploy targets for tests that must hold on both servers the bot meets: the machine's
PostgreSQL (environment databases prepared with a least-privilege owner role, as the test
fixtures do) and the embedded default (its own servers under a data directory, environment
databases made by the bot itself). Deploys go through the `deploybot deploy` CLI, i.e. the
whole runbook."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from service import embedded
from service.embedded import environment_database
from service.embedded.postgres import EmbeddedPostgres
from service.embedded.redis import EmbeddedRedis
from service.embedded.server_build import full_server_bindir
from tests.conftest import ADMIN_URL, create_database, database_url, drop_database
from tests.fixture_repo import make_repo
from workers.cli import main

SERVERS = ["machine", "embedded"]


@dataclass
class World:
    server: str  # "machine" or "embedded"
    repo: Path
    data_dir: Path
    ledger_admin_url: str  # the bot's own database, as the admin
    staging_admin_url: str  # staging's database, as the admin (a superuser)
    staging_url: str  # what the bot deploys to: the environment's owner role
    env: dict[str, str]  # the bot's environment variables (others are removed)

    def dblink_ledger(self) -> str:
        """A libpq connection string to the ledger as the superuser: what an attacker
        would hand to dblink (the servers trust loopback connections)."""
        p = conninfo_to_dict(self.ledger_admin_url)
        return f"host={p['host']} port={p.get('port', 5432)} user=postgres dbname={p['dbname']}"

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("DATABASE_URL", "STAGING_DATABASE_URL", "PRODUCTION_DATABASE_URL",
                     "DEPLOYBOT_ALLOW_SUPERUSER_DATABASES", "DEPLOYBOT_DATA_DIR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(self.repo)

    def deploy(self, *args: str) -> int:
        return main(["deploy", "staging", *args])


def full_embedded_build() -> bool:
    """True when the embedded default runs the full PostgreSQL build (contrib extensions)."""
    return full_server_bindir() is not None


def machine_world(tmp: Path) -> Iterator[World]:
    """A ledger and a staging database on the machine's PostgreSQL; the ledger sealed as
    the bot seals its own (only the admin may connect)."""
    bot, staging = create_database("bot"), create_database("stg")
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            environment_database.seal(conn, bot)
        owner_url = environment_database.prepare(ADMIN_URL, staging)
        repo = make_repo(tmp / "repo")
        env = {"DATABASE_URL": database_url(bot), "STAGING_DATABASE_URL": owner_url,
               "STAGING_ANON_KEY": "anon-key-for-tests",
               "DEPLOYBOT_DATA_DIR": str(tmp / "data")}
        yield World("machine", repo, tmp / "data", database_url(bot),
                    database_url(staging), owner_url, env)
    finally:
        drop_database(staging)
        drop_database(bot)


def embedded_world(tmp: Path) -> Iterator[World]:
    """The embedded default: no DATABASE_URL, no STAGING_DATABASE_URL; the bot starts its
    servers under the data directory and makes staging's database itself."""
    # Not under pytest's tmp_path: concurrent pytest runs prune those directories, and
    # the server's files outlive a test's stay there.
    data = Path(tempfile.mkdtemp(prefix="deploybot-world-"))
    services = embedded.start(data)
    try:
        staging_url = embedded.ensure_environment_database(services, "staging")
        ledger = services.database_url("deploybot")
        embedded.ensure_database(services.postgres.url(), ledger, "deploybot")
        repo = make_repo(tmp / "repo")
        env = {"DEPLOYBOT_DATA_DIR": str(data)}
        yield World("embedded", repo, data, ledger, services.database_url("staging"),
                    staging_url, env)
    finally:
        EmbeddedRedis(data).stop()
        EmbeddedPostgres(data).stop()
        shutil.rmtree(data, ignore_errors=True)


def make_world(server: str, tmp: Path) -> Iterator[World]:
    return machine_world(tmp) if server == "machine" else embedded_world(tmp)
