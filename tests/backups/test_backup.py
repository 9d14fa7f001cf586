"""Backups: pg_dump -Fc into the store, verified, and never a password in sight."""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from service.pgtools import PgTools
from tests.backups.conftest import VersionKnown, as_database, make_ctx
from tests.conftest import ADMIN_URL, admin_url_of
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase
from workers.drivers.interfaces import BackupError
from workers.runbook.events import EventKind
from workers.runbook.snapshot import diff, snapshot
from workers.runbook.step import StepFailed, StepSkipped
from workers.steps.backup import BACKUP, human_size


def file_size(path: Path) -> int:
    return path.stat().st_size


def write_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def run_sql(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


async def test_create_writes_a_verified_dump(fresh_db: str, tmp_path: Path) -> None:
    run_sql(fresh_db, "CREATE TABLE t (id int PRIMARY KEY, v text);"
                      "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g;")
    store = LocalBackupStore(tmp_path / "backups")
    backup = await store.create(as_database(fresh_db), "staging-42")

    path = Path(backup.location)
    assert path.parent == tmp_path / "backups"
    assert re.fullmatch(r"staging-42-\d{8}T\d{6}Z\.dump", path.name)
    assert file_size(path) == backup.size_bytes > 0
    assert backup.entries >= 3  # table, data, constraint
    assert backup.server_version_num // 10000 >= 15
    assert backup.created_at.tzinfo is not None
    assert listing(path.parent) == [path.name]  # no temp file left
    assert not stat.S_IMODE(os.stat(path.parent).st_mode) & 0o077  # dumps hold data: private

    again = await store.create(as_database(fresh_db), "staging-42")
    assert again.location != backup.location  # same label, same second: a new file


async def test_an_empty_database_gives_an_empty_but_valid_dump(fresh_db: str,
                                                              tmp_path: Path) -> None:
    store = LocalBackupStore(tmp_path)
    backup = await store.create(as_database(fresh_db), "new")
    assert backup.entries == 0 and backup.size_bytes > 0
    before = await snapshot(fresh_db)
    run_sql(fresh_db, "CREATE TABLE public.t (x int); CREATE SCHEMA s;")
    await store.restore(backup, as_database(fresh_db))
    assert diff(before, await snapshot(fresh_db)) == []


async def test_an_unreadable_dump_is_not_restored(fresh_db: str, tmp_path: Path) -> None:
    run_sql(fresh_db, "CREATE TABLE t (x int)")
    store = LocalBackupStore(tmp_path)
    backup = await store.create(as_database(fresh_db), "x")
    write_file(Path(backup.location), b"PGDMP garbage")
    with pytest.raises(BackupError, match="cannot be read"):
        await store.restore(backup, as_database(fresh_db))


# --------------------------------------------------------------------------- secrets


def _wrapped_tools(real: PgTools, bindir: Path, log: Path) -> PgTools:
    """Tools that log their argv (and whether a password came by environment)."""
    bindir.mkdir()
    for program in ("psql", "pg_dump", "pg_restore"):
        script = bindir / program
        script.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$0 $*\" >> {log}\n"
            f"[ -n \"$PGPASSWORD\" ] && echo 'PGPASSWORD set' >> {log}\n"
            f"exec {real.path(program)} \"$@\"\n")
        script.chmod(0o755)
    return PgTools(real.major, bindir)


class LoggedDatabase(PostgresDatabase):
    def __init__(self, url: str, bindir: Path, log: Path) -> None:
        super().__init__(url, connect_retries=1)
        self.bindir, self.log = bindir, log

    def tools(self, server_version_num: int) -> PgTools:
        real = super().tools(server_version_num)
        if not self.bindir.exists():
            _wrapped_tools(real, self.bindir, self.log)
        return PgTools(real.major, self.bindir)


@pytest.fixture
def password_url(fresh_db: str) -> Iterator[tuple[str, str]]:
    """The test database owned by a new LOGIN role with a password; URL with the password."""
    role = f"bk_{uuid.uuid4().hex[:10]}"
    password = f"Pw-{uuid.uuid4().hex}"
    dbname = fresh_db.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(dbname), sql.Identifier(role)))
    parts = urlsplit(fresh_db)
    netloc = f"{role}:{password}@{parts.hostname}:{parts.port or 5432}"
    yield urlunsplit(parts._replace(netloc=netloc)), password
    with psycopg.connect(admin_url_of(fresh_db), autocommit=True) as conn:
        conn.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres; DROP OWNED BY {}").format(
            sql.Identifier(role), sql.Identifier(role)))
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_password_stays_out_of_argv_locations_and_messages(
        password_url: tuple[str, str], tmp_path: Path) -> None:
    url, password = password_url
    run_sql(url, "CREATE TABLE public.notes (id int PRIMARY KEY, body text);"
                 "INSERT INTO public.notes VALUES (1, 'kept');")
    log = tmp_path / "argv.log"
    db = as_database(url)
    logged = LoggedDatabase(url, tmp_path / "bin", log)
    store = LocalBackupStore(tmp_path / "store")
    before = await snapshot(url)

    backup = await store.create(logged, "production-9")
    assert password not in backup.location
    run_sql(url, "DELETE FROM public.notes; CREATE TABLE public.later (x int);")
    await store.restore(backup, logged)  # as the database owner, not a superuser
    await logged.aclose()
    assert diff(before, await snapshot(url)) == []

    calls = log.read_text()
    assert "pg_dump" in calls and "pg_restore" in calls and "psql" in calls
    assert password not in calls
    invocations = calls.count(str(tmp_path / "bin") + "/")
    assert calls.count("PGPASSWORD set") == invocations  # every call got it by environment
    assert password not in db.redacted_url

    # failures name the problem, not the password
    wrong_db = url.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(BackupError) as failed:
        await store.create(VersionKnown(wrong_db, before.server_version_num),
                           "x")
    assert "no_such_database_here" in str(failed.value)
    assert password not in str(failed.value)
    assert not failed.value.unreachable
    assert password not in log.read_text()


async def test_unreachable_server_is_reported_as_such(fresh_db: str, tmp_path: Path) -> None:
    version = await as_database(fresh_db).server_version_num()
    dead = "postgresql://postgres:Sekrit-123@127.0.0.1:1/postgres"
    store = LocalBackupStore(tmp_path)
    with pytest.raises(BackupError) as failed:
        await store.create(VersionKnown(dead, version), "staging-1")
    assert failed.value.unreachable
    assert "Sekrit-123" not in str(failed.value)
    assert listing(tmp_path) == []  # no partial dump left behind
    with pytest.raises(BackupError) as at_connect:  # the driver gives up after its retries
        await store.create(as_database(dead), "staging-1")
    assert at_connect.value.unreachable and "Sekrit-123" not in str(at_connect.value)

    ctx = make_ctx(VersionKnown(dead, version), store)
    with pytest.raises(StepFailed) as step_failed:
        await BACKUP.run(ctx)
    assert step_failed.value.stop_the_line == "database connection issues"
    assert "Sekrit-123" not in step_failed.value.reason


# --------------------------------------------------------------------------- the step


async def test_backup_step_records_the_backup(fresh_db: str, tmp_path: Path) -> None:
    run_sql(fresh_db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path), deployment_id=31)
    await BACKUP.run(ctx)
    backup = ctx.state.backup
    assert Path(backup.location).name.startswith("staging-31-")
    out = ctx.reporter.output()  # type: ignore[attr-defined]
    assert backup.location in out
    assert f"entries: {backup.entries}" in out
    assert human_size(backup.size_bytes) in out and "took:" in out
    assert BACKUP.undo is None  # the backup is kept


async def test_backup_step_skips_when_turned_off(fresh_db: str, tmp_path: Path) -> None:
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path), backup=False)
    with pytest.raises(StepSkipped, match=r"environments\.staging\.backup: false"):
        await BACKUP.run(ctx)
    assert ctx.state.backup is None
    assert listing(tmp_path) == []
    assert not any(e.kind == EventKind.OUTPUT for e in ctx.reporter.events)  # type: ignore[attr-defined]


def test_human_size() -> None:
    assert human_size(512) == "512 B"
    assert human_size(2048) == "2.0 KiB"
    assert human_size(5 * 1024**3) == "5.0 GiB"


def test_no_secret_in_environment_of_this_test_process() -> None:
    # the tools get the password through their own environment only
    assert "PGPASSWORD" not in os.environ
