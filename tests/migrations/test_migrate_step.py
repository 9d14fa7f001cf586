"""The migrate step in the engine, with a real DeployContext: the project's migrations on a
Supabase-like database, a broken migration, and every way of undoing."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.config.model import EnvironmentConfig, default_config
from tests.conftest import REPO
from tests.migrations.helpers import schema_dump
from tests.recorder import Recorder
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase
from workers.drivers.functions import PostgresFunctionReleases
from workers.repository.migration_files import discover
from workers.runbook.context import DeployContext, Environment, SourceTree
from workers.runbook.engine import Engine
from workers.runbook.events import Annotation, EventKind, Outcome
from workers.runbook.step import Step, StepFailed
from workers.steps.backup import BACKUP
from workers.steps.migrate import MIGRATE

HISTORY = "supabase_migrations"




async def _smoke_fails(ctx: DeployContext) -> None:
    raise StepFailed("smoke test 1 answered 500", stop_the_line="function 5xx")


SMOKE = Step(name="smoke", title="Smoke tests", run=_smoke_fails)


@pytest.fixture
async def db(shim_db: str) -> AsyncIterator[PostgresDatabase]:
    async with PostgresDatabase(shim_db) as database:
        yield database


def context(db: PostgresDatabase, url: str, root: Path, backups: Path) -> DeployContext:
    env = Environment(
        name="staging",
        config=EnvironmentConfig(name="staging", database_url_env="STAGING_DATABASE_URL",
                                 lock_timeout_ms=2000),
        database=db,
        backups=LocalBackupStore(backups),
        functions=PostgresFunctionReleases(url),
    )
    return DeployContext(deployment_id=7, environment=env,
                         source=SourceTree(root=root, commit="c0ffee"),
                         config=default_config(), reporter=Recorder())


def recorder(ctx: DeployContext) -> Recorder:
    assert isinstance(ctx.reporter, Recorder)
    return ctx.reporter


def copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "migrations", root / "migrations")
    return root


async def history(db: PostgresDatabase) -> list[tuple[str, str | None, list[str]]]:
    return [(a.version, a.name, a.statements) for a in await db.applied_migrations()]


async def test_the_projects_migrations_apply_and_undo_to_the_same_schema(
        db: PostgresDatabase, shim_db: str, tmp_path: Path) -> None:
    before = await schema_dump(db, HISTORY)
    ctx = context(db, shim_db, REPO, tmp_path / "backups")
    outcome = await Engine([MIGRATE, SMOKE]).run(ctx)

    assert outcome == Outcome.ROLLED_BACK
    rec = recorder(ctx)
    files = [m.relpath for m in discover(REPO)]
    assert len(rec.of(EventKind.FINISHED, "migrate")) == 1
    applied_lines = [line for line in rec.output("migrate").splitlines()
                     if line.startswith("applied ")]
    assert [line.split()[1] for line in applied_lines] == files
    # One transaction with the RLS suite: each file is applied, then all commit together.
    assert all(line.endswith((" ms (not committed)", " s (not committed)"))
               for line in applied_lines)
    assert "committed 8 migration(s) in one transaction after 82/82 tests passed" \
        in rec.output("migrate")
    progress = [e.message for e in rec.of(EventKind.PROGRESS, "migrate")]
    assert progress[0] == f"applying {files[0]} (1/{len(files)})"
    # Undo reverted every file, newest first, with its rollback script.
    reverted = [line.split()[1] for line in rec.output("migrate").splitlines()
                if line.startswith("reverted ")]
    assert reverted == files[::-1]
    assert rec.of(EventKind.UNDO_FINISHED, "migrate")
    assert ctx.state.applied == []
    assert await history(db) == []
    assert await schema_dump(db, HISTORY) == before


async def test_applied_migrations_are_recorded_in_order(db: PostgresDatabase, shim_db: str,
                                                        tmp_path: Path) -> None:
    ctx = context(db, shim_db, REPO, tmp_path / "backups")
    await MIGRATE.run(ctx)
    found = discover(REPO)
    assert ctx.state.applied == list(found)
    assert [v for v, _, _ in await history(db)] == [m.version for m in found]
    rows = await db.fetch("SELECT to_regclass('public.quotes') IS NOT NULL AS ok")
    assert rows == [{"ok": True}]
    # A second deployment of the same commit has nothing to do.
    again = context(db, shim_db, REPO, tmp_path / "backups")
    outcome = await Engine([MIGRATE]).run(again)
    assert outcome == Outcome.SUCCEEDED
    assert [e.message for e in recorder(again).of(EventKind.SKIPPED, "migrate")] == [
        "no pending migrations"]


async def test_a_broken_migration_stops_the_line_and_nothing_is_committed(
        db: PostgresDatabase, shim_db: str, tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    found = discover(root)
    await db.apply_migration(found[0], lock_timeout_ms=2000)  # the baseline was deployed
    broken = found[3]  # the third file this deployment applies
    text = broken.path.read_text()
    bad_line = len(text.splitlines()) + 2
    broken.path.write_text(text.rstrip("\n") + "\n\nALTER TABLE public.no_such_table "
                           "ADD COLUMN x int;\n")
    before_schema = await schema_dump(db)
    before_history = await history(db)

    ctx = context(db, shim_db, root, tmp_path / "backups")
    outcome = await Engine([MIGRATE]).run(ctx)

    assert outcome == Outcome.ROLLED_BACK
    rec = recorder(ctx)
    [failed] = rec.of(EventKind.FAILED, "migrate")
    assert failed.message == (f"{broken.relpath}:{bad_line}: relation "
                              f"\"public.no_such_table\" does not exist; the transaction "
                              f"was rolled back: nothing was committed")
    assert failed.data["stop_the_line"] == "migration error"
    [annotation] = failed.data["annotations"]
    assert isinstance(annotation, Annotation)
    assert (annotation.path, annotation.line) == (broken.relpath, bad_line)
    assert "ALTER TABLE public.no_such_table" in failed.data["output"]
    # The two files before it ran in the same transaction: nothing to revert.
    assert ("which was rolled back: nothing was committed (checked: none of the 7 "
            "version(s) is in supabase_migrations.schema_migrations)") in failed.data["output"]
    assert "reverted " not in rec.output("migrate")
    assert "nothing to undo: this deployment committed no migration" in rec.output("migrate")
    assert await history(db) == before_history
    assert await schema_dump(db) == before_schema


async def test_undo_restores_the_backup_when_a_rollback_script_is_missing(
        db: PostgresDatabase, shim_db: str, tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    found = discover(root)
    await db.apply_migration(found[0], lock_timeout_ms=2000)
    (root / "migrations" / "rollback" / found[2].path.name).unlink()
    before_schema = await schema_dump(db)
    before_history = await history(db)

    ctx = context(db, shim_db, root, tmp_path / "backups")
    outcome = await Engine([BACKUP, MIGRATE, SMOKE]).run(ctx)

    assert outcome == Outcome.ROLLED_BACK
    out = recorder(ctx).output("migrate")
    # Newest first with the scripts, until the one without a script: then the backup.
    assert f"reverted {found[-1].relpath}" in out
    assert f"cannot revert {found[2].relpath}: it has no rollback script" in out
    assert "restored the backup" in out
    assert ctx.state.applied == []
    assert await history(db) == before_history
    assert await schema_dump(db) == before_schema


async def test_a_file_that_committed_as_the_connection_died_is_reverted_too(
        db: PostgresDatabase, shim_db: str, tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    found = discover(root)
    ctx = context(db, shim_db, root, tmp_path / "backups")
    ctx.current_step = "migrate"
    await MIGRATE.run(ctx)
    # As if the connection died after the last file's COMMIT reached the server but
    # before its answer reached us.
    last = ctx.state.applied.pop()
    ctx.state.migrate_in_doubt = last
    assert MIGRATE.undo is not None
    await MIGRATE.undo(ctx)
    assert f"{last.relpath} did commit" in recorder(ctx).output("migrate")
    assert await history(db) == []
    assert ctx.state.applied == []
    assert last == found[-1]


async def test_undo_without_a_backup_asks_for_a_person(db: PostgresDatabase, shim_db: str,
                                                       tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    found = discover(root)
    (root / "migrations" / "rollback" / found[1].path.name).unlink()
    ctx = context(db, shim_db, root, tmp_path / "backups")
    outcome = await Engine([MIGRATE, SMOKE]).run(ctx)

    assert outcome == Outcome.ROLLBACK_FAILED
    [undo_failed] = recorder(ctx).of(EventKind.UNDO_FAILED, "migrate")
    assert undo_failed.message.startswith(
        f"cannot revert {found[1].relpath}: it has no rollback script, and there is no "
        f"backup to restore; a person is needed")
    # What could be reverted was; what is left is still listed as applied.
    assert [m.version for m in ctx.state.applied] == [found[0].version, found[1].version]
    assert [v for v, _, _ in await history(db)] == [found[0].version, found[1].version]


async def test_an_unreachable_database_stops_the_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://postgres:pw@127.0.0.1:{port}/nowhere"
    db = PostgresDatabase(url, connect_retries=2, retry_delay=0.01)
    for pending in (None, list(discover(REPO))):
        ctx = context(db, url, REPO, tmp_path / "backups")
        if pending is not None:
            ctx.state.pending = pending
        outcome = await Engine([MIGRATE]).run(ctx)
        [failed] = recorder(ctx).of(EventKind.FAILED, "migrate")
        assert failed.data["stop_the_line"] == "database connection issues"
        assert "cannot reach postgresql://postgres:***@127.0.0.1" in failed.message
        assert "pw@" not in failed.message
        # It could not learn what is pending, or could not begin the transaction: nothing
        # was sent, so nothing is in doubt.
        assert outcome == Outcome.ROLLED_BACK
        assert "nothing to undo" in recorder(ctx).output("migrate")


async def test_altering_a_shared_platform_role_is_refused_with_what_to_do(
        db: PostgresDatabase, shim_db: str, tmp_path: Path) -> None:
    # PostgREST's pre-request hook, set as Supabase's docs show; the embedded default's
    # platform roles belong to every environment of the server, so its owner may not.
    root = tmp_path / "repo"
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "20260101000000_hook.sql").write_text(
        "CREATE FUNCTION public.pre_request() RETURNS void LANGUAGE sql AS '';\n"
        "ALTER ROLE authenticator SET pgrst.db_pre_request TO 'public.pre_request';\n")
    ctx = context(db, shim_db, root, tmp_path / "backups")

    assert await Engine([MIGRATE]).run(ctx) == Outcome.ROLLED_BACK
    [failed] = recorder(ctx).of(EventKind.FAILED)
    assert failed.message.startswith("migrations/20260101000000_hook.sql:2: permission denied")
    assert "may not alter `authenticator`, a role of the whole server" in failed.message
    assert "the embedded default never does" in failed.data["output"]
    assert await history(db) == []


async def test_a_supabase_migration_on_a_plain_database_says_what_it_lacks(
        fresh_db: str, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "20260101000000_profiles.sql").write_text(
        "create table public.profiles (id uuid primary key references auth.users);\n")
    async with PostgresDatabase(fresh_db, allow_superuser=True) as plain:  # no platform shim
        ctx = context(plain, fresh_db, root, tmp_path / "backups")
        assert await Engine([MIGRATE]).run(ctx) == Outcome.ROLLED_BACK
    [failed] = recorder(ctx).of(EventKind.FAILED)
    assert failed.message.startswith(
        'migrations/20260101000000_profiles.sql:1: schema "auth" does not exist: this '
        "database lacks Supabase's schema `auth`: it is not a Supabase database")
