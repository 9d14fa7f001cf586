"""PostgresDatabase.transaction: the deployment's migrations and tests in one transaction
on a real PostgreSQL. Files in savepoints with their history rows, tests in savepoints
rolled back, nothing committed without `commit`, and a statement that escapes caught."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from tests.migrations.helpers import make_migration
from tests.migrations.test_database import history, tables
from tests.security.test_migration_transactions import (  # noqa: F401  (table_db: fixture)
    _one_statement,
    table_db,
)
from workers.drivers import database as database_driver
from workers.drivers.database import PostgresDatabase
from workers.drivers.interfaces import MigrationError, TransactionLost


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[PostgresDatabase]:
    async with PostgresDatabase(fresh_db) as database:
        yield database


async def test_files_commit_together_and_tests_leave_nothing(db: PostgresDatabase,
                                                             tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260301000001_a.sql", "create table a (id int);\n")
    b = make_migration(tmp_path, "20260301000002_b.sql", "insert into a values (1);\n")
    async with db.transaction(lock_timeout_ms=1000) as txn:
        await txn.apply(a)
        await txn.apply(b)
        run = await txn.run_rolled_back(
            ["insert into a values (2)", "select count(*) from a",
             "set local role nobody_here"], lock_timeout_ms=1000)
        assert run.outputs[1] == ["2"]  # the test sees the uncommitted migrations
        assert run.failed_at == 2 and 'role "nobody_here" does not exist' in run.error
        await txn.commit()
    assert [v for v, _, _ in await history(db)] == ["20260301000001", "20260301000002"]
    assert await db.fetch("select id from a") == [{"id": 1}]  # the test's row is gone


async def test_leaving_without_commit_rolls_everything_back(db: PostgresDatabase,
                                                            tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260301000001_a.sql", "create table a (id int);\n")
    bad = make_migration(tmp_path, "20260301000002_bad.sql",
                         "insert into a values (1);\nselect no_such_function();\n")
    with pytest.raises(MigrationError) as caught:
        async with db.transaction(lock_timeout_ms=1000) as txn:
            await txn.apply(a)
            await txn.apply(bad)
    assert caught.value.line == 2 and not caught.value.transaction_ended
    assert await tables(db) == []
    assert await history(db) == []


async def test_a_test_statement_that_ends_the_transaction_is_caught(
        db: PostgresDatabase, tmp_path: Path) -> None:
    """A COMMIT the splitter did not see (here: handed over inside one statement) would
    commit the migrations before the tests passed: the run stops, saying part of it may be
    committed (the migrate step then restores the backup)."""
    a = make_migration(tmp_path, "20260301000001_a.sql", "create table a (id int);\n")
    with pytest.raises(TransactionLost) as caught:
        async with db.transaction(lock_timeout_ms=1000) as txn:
            await txn.apply(a)
            await txn.run_rolled_back(["select 1; commit"], lock_timeout_ms=1000)
    assert caught.value.maybe_committed
    assert "a statement ended the transaction holding the migrations" in str(caught.value)
    assert await tables(db) == ["a"]  # what the hidden COMMIT committed: hence the backup


async def test_a_concurrent_index_runs_outside_a_transaction(db: PostgresDatabase,
                                                             tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260301000001_a.sql", "create table a (id int);\n")
    index = make_migration(tmp_path, "20260301000002_index.sql",
                           "create index concurrently a_id on a (id);\n"
                           "create index concurrently a_bad on a (no_such_column);\n")
    await db.apply_migration(a, lock_timeout_ms=1000)
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(index, lock_timeout_ms=1000)
    # The first index is built and committed: only the backup undoes half a file.
    assert caught.value.transaction_ended and caught.value.outside_transaction
    assert caught.value.line == 2
    assert "1 statement(s) of the file before it ran outside a transaction" in (
        caught.value.error)
    assert [v for v, _, _ in await history(db)] == ["20260301000001"]
    good = make_migration(tmp_path, "20260301000002_index.sql",
                          "create index concurrently a_id2 on a (id);\n")
    await db.apply_migration(good, lock_timeout_ms=1000)
    assert [v for v, _, _ in await history(db)] == ["20260301000001", "20260301000002"]
    rows = await db.fetch("select current_setting('lock_timeout') as t")
    assert rows == [{"t": "0"}]  # the session's timeout was put back


async def test_a_files_own_begin_and_commit_are_left_out_in_the_transaction(
        db: PostgresDatabase, fresh_db: str, tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260301000001_a.sql",
                       "begin;\ncreate table a (id int);\ncommit;\n")
    b = make_migration(tmp_path, "20260301000002_b.sql", "insert into a values (1);\n")
    async with db.transaction(lock_timeout_ms=1000) as txn:
        await txn.apply(a)
        await txn.apply(b)
        with psycopg.connect(fresh_db) as other:  # the file's COMMIT did not run
            assert other.execute("select to_regclass('public.a')").fetchone() == (None,)
        await txn.commit()
    assert [v for v, _, _ in await history(db)] == ["20260301000001", "20260301000002"]
    assert await db.fetch("select id from a") == [{"id": 1}]


@pytest.mark.parametrize("sql", [
    "alter table t drop column c;\ncommit;\nselect 1/0;\n",  # fails after the COMMIT
    "alter table t drop column c;\ncommit;\nselect 1;\n",  # succeeds after it
])
async def test_a_file_that_ends_the_deployments_transaction_is_caught(
        sql: str, table_db: str, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A COMMIT the splitter missed commits the earlier files too: `transaction_ended`,
    so the migrate step restores the backup rather than claim nothing was committed."""
    monkeypatch.setattr(database_driver, "split", _one_statement)
    first = make_migration(tmp_path, "20260301000001_a.sql", "alter table t add column d int")
    bad = make_migration(tmp_path, "20260301000002_b.sql", sql)
    async with PostgresDatabase(table_db) as db:
        with pytest.raises(MigrationError) as caught:
            async with db.transaction(lock_timeout_ms=1000) as txn:
                await txn.apply(first)
                await txn.apply(bad)
    assert caught.value.transaction_ended
    with psycopg.connect(table_db) as conn:
        columns = [r[0] for r in conn.execute(
            "select attname from pg_attribute where attrelid = 't'::regclass and attnum > 0 "
            "and not attisdropped order by attnum")]
    assert columns == ["id", "d"]  # the first file did commit with the hidden COMMIT
