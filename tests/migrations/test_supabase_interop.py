"""Our history and the Supabase CLI's agree, both ways (the CLI from npm, version pinned in
supabase_cli.py; skipped with the reason when it cannot be installed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.migrations import supabase_cli
from workers.drivers.database import PostgresDatabase
from workers.repository.migration_files import discover, lint, pending

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli() -> Path:
    return supabase_cli.require()


async def test_supabase_migration_list_agrees_after_our_migrate(
        cli: Path, shim_db: str, tmp_path: Path) -> None:
    found = discover(REPO)
    async with PostgresDatabase(shim_db) as db:
        for m in found:
            await db.apply_migration(m, lock_timeout_ms=5000)
        ours = await db.applied_migrations()
    work = supabase_cli.workdir(tmp_path, REPO / "migrations")

    rows = await asyncio.to_thread(supabase_cli.migration_list, shim_db, work)
    assert [(r["local"], r["remote"]) for r in rows] == [(m.version, m.version) for m in found]

    # And `db push` sees nothing to do.
    push = await asyncio.to_thread(supabase_cli.run, [
        "db", "push", "--db-url", supabase_cli.cli_url(shim_db), "--yes"], work)
    assert push.returncode == 0, push.stderr + push.stdout
    assert "up to date" in (push.stdout + push.stderr).lower()
    async with PostgresDatabase(shim_db) as db:
        assert await db.applied_migrations() == ours


async def test_nothing_is_pending_or_changed_after_supabase_db_push(
        cli: Path, shim_db: str, tmp_path: Path) -> None:
    work = supabase_cli.workdir(tmp_path, REPO / "migrations")
    push = await asyncio.to_thread(supabase_cli.run, [
        "db", "push", "--db-url", supabase_cli.cli_url(shim_db), "--yes"], work)
    assert push.returncode == 0, push.stderr + push.stdout

    found = discover(REPO)
    async with PostgresDatabase(shim_db) as db:
        applied = await db.applied_migrations()
    assert [a.version for a in applied] == [m.version for m in found]
    assert [a.name for a in applied] == [m.name for m in found]
    assert pending(found, applied) == []
    assert lint(found, applied) == []  # in particular: no file counts as changed
