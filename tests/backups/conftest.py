"""Fixtures of the backup tests: the database driver, migrated databases, step contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import psycopg
import pytest

from service.config.model import Config, default_config
from tests.conftest import REPO
from tests.recorder import Recorder
from workers.drivers.database import PostgresDatabase
from workers.drivers.interfaces import BackupStore, Database, FunctionReleases
from workers.runbook.context import DeployContext, Environment, SourceTree

MIGRATIONS = REPO / "migrations"


_opened: list[PostgresDatabase] = []


def as_database(url: str) -> PostgresDatabase:
    """The real database driver (closed after the test)."""
    db = PostgresDatabase(url, connect_retries=1)
    _opened.append(db)
    return db


@pytest.fixture(autouse=True)
async def _close_databases() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().aclose()


class VersionKnown(PostgresDatabase):
    """A database whose version is known without connecting (for broken or dead URLs)."""

    def __init__(self, url: str, version: int) -> None:
        super().__init__(url, connect_retries=1)
        self.version = version

    async def server_version_num(self) -> int:
        return self.version


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS.glob("*.sql"))


def apply_migrations(url: str, files: list[Path] | None = None) -> int:
    """Apply migrations/*.sql (or `files`) with their history rows, like the migrate step;
    returns how many were applied."""
    files = migration_files() if files is None else files
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS supabase_migrations")
        conn.execute("CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
                     "(version text PRIMARY KEY, statements text[], name text)")
        for f in files:
            version, _, name = f.stem.partition("_")
            with conn.transaction():
                conn.execute(f.read_text())  # type: ignore[arg-type]  # our own files
                conn.execute("INSERT INTO supabase_migrations.schema_migrations "
                             "(version, statements, name) VALUES (%s, %s, %s)",
                             (version, [f.read_text()], name))
    return len(files)


@pytest.fixture
def migrated_db(shim_db: str) -> str:
    if not migration_files():
        pytest.skip("no migrations/*.sql yet")
    apply_migrations(shim_db)
    return shim_db




def make_ctx(db: Database, store: BackupStore, *, source: Path = REPO, backup: bool = True,
             config: Config | None = None, deployment_id: int = 7) -> DeployContext:
    config = config or default_config()
    env_config = replace(config.environments["staging"], backup=backup)
    env = Environment(name="staging", config=env_config, database=db, backups=store,
                      functions=cast(FunctionReleases, None))
    return DeployContext(deployment_id=deployment_id, environment=env,
                         source=SourceTree(root=source, commit="0123456789abcdef" * 2 + "01234567"),
                         config=config, reporter=Recorder())
