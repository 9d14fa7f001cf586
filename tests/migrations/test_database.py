"""PostgresDatabase against a real PostgreSQL: history like the Supabase CLI, one
transaction per file, errors located to the line, timeouts, reverts, reconnects."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.migrations.helpers import make_migration, run, subprocess_env
from workers.drivers.database import PostgresDatabase, redact
from workers.drivers.interfaces import DatabaseUnavailable, MigrationError


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[PostgresDatabase]:
    async with PostgresDatabase(fresh_db) as database:
        yield database


async def tables(db: PostgresDatabase) -> list[str]:
    rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                          "ORDER BY 1")
    return [r["tablename"] for r in rows]


async def history(db: PostgresDatabase) -> list[tuple[str, str | None, list[str]]]:
    return [(a.version, a.name, a.statements) for a in await db.applied_migrations()]


async def test_apply_records_the_history_row_like_the_supabase_cli(
        db: PostgresDatabase, tmp_path: Path) -> None:
    assert await db.applied_migrations() == []  # no history table yet
    m = make_migration(tmp_path, "20260107000001_create_quotes.sql",
                       "-- quotes\nCREATE TABLE quotes (id int);\n"
                       "INSERT INTO quotes VALUES (1) -- no semicolon at the end")
    await db.apply_migration(m, lock_timeout_ms=1000)
    assert await history(db) == [("20260107000001", "create_quotes", [
        "-- quotes\nCREATE TABLE quotes (id int)",
        "INSERT INTO quotes VALUES (1) -- no semicolon at the end",
    ])]
    assert await db.fetch("SELECT id FROM quotes") == [{"id": 1}]
    columns = await db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations' "
        "ORDER BY ordinal_position")
    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("version", "text"), ("statements", "ARRAY"), ("name", "text")]


async def test_a_file_without_statements_is_recorded(db: PostgresDatabase,
                                                     tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000007_docs_only.sql", "-- nothing to run\n")
    await db.apply_migration(m, lock_timeout_ms=1000)
    assert await history(db) == [("20260107000007", "docs_only", [])]


async def test_extra_history_columns_are_tolerated(db: PostgresDatabase,
                                                   tmp_path: Path) -> None:
    # Hosted projects carry more columns than the CLI writes.
    await db.execute(
        "CREATE SCHEMA supabase_migrations;"
        "CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY,"
        " statements text[], name text, created_by text,"
        " idempotency_key text UNIQUE, inserted_at timestamptz NOT NULL DEFAULT now())")
    m = make_migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);")
    await db.apply_migration(m, lock_timeout_ms=1000)
    rows = await db.fetch("SELECT version, name, created_by, inserted_at IS NOT NULL AS t "
                          "FROM supabase_migrations.schema_migrations")
    assert rows == [{"version": "20260107000001", "name": "a", "created_by": None, "t": True}]


async def test_an_old_history_table_gets_the_missing_columns(db: PostgresDatabase,
                                                             tmp_path: Path) -> None:
    await db.execute("CREATE SCHEMA supabase_migrations;"
                     "CREATE TABLE supabase_migrations.schema_migrations (version text "
                     "PRIMARY KEY);"
                     "INSERT INTO supabase_migrations.schema_migrations VALUES ('1')")
    m = make_migration(tmp_path, "20260107000001_a.sql", "SELECT 1;")
    await db.apply_migration(m, lock_timeout_ms=1000)
    assert await history(db) == [("1", None, []), ("20260107000001", "a", ["SELECT 1"])]


async def test_a_failing_statement_rolls_back_its_file_and_names_the_line(
        db: PostgresDatabase, tmp_path: Path) -> None:
    first = make_migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);")
    broken = make_migration(tmp_path, "20260107000002_b.sql",
                            "CREATE TABLE b (id int);\n\n"
                            "-- the bad one:\n"
                            "INSERT INTO b\n  VALUES ('not a number');\n"
                            "CREATE TABLE c (id int);\n")
    await db.apply_migration(first, lock_timeout_ms=1000)
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(broken, lock_timeout_ms=1000)
    err = caught.value
    assert err.migration is broken
    assert err.line == 4
    assert err.statement == "INSERT INTO b\n  VALUES ('not a number')"
    assert err.sqlstate == "22P02"
    assert 'invalid input syntax for type integer: "not a number"' in err.error
    assert str(err).startswith("migrations/20260107000002_b.sql:4: ")
    # Nothing of the failed file is committed; the earlier file stays applied.
    assert await tables(db) == ["a"]
    assert [v for v, _, _ in await history(db)] == ["20260107000001"]
    # The connection is usable afterwards.
    fixed = make_migration(tmp_path, "20260107000002_b.sql", "CREATE TABLE b (id int);")
    await db.apply_migration(fixed, lock_timeout_ms=1000)
    assert await tables(db) == ["a", "b"]


async def test_syntax_errors_carry_detail_and_hint(db: PostgresDatabase,
                                                   tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000001_a.sql",
                       "CREATE TABLE a (id int);\nSELECT * FROM a WHERE idd = 1;\n")
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(m, lock_timeout_ms=1000)
    assert caught.value.line == 2
    assert caught.value.sqlstate == "42703"
    assert "HINT: Perhaps you meant" in caught.value.error


async def test_a_files_own_begin_and_commit_do_not_break_atomicity(
        db: PostgresDatabase, tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000001_a.sql",
                       "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nSELECT 1/0;\n")
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(m, lock_timeout_ms=1000)
    assert (caught.value.line, caught.value.sqlstate) == (4, "22012")
    assert await tables(db) == []
    ok = make_migration(tmp_path, "20260107000001_a.sql",
                        "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n")
    await db.apply_migration(ok, lock_timeout_ms=1000)
    assert await tables(db) == ["a"]
    # Recorded as written, like the CLI would.
    assert await history(db) == [("20260107000001", "a",
                                  ["BEGIN", "CREATE TABLE a (id int)", "COMMIT"])]


async def test_a_file_that_rolls_back_halfway_is_refused(db: PostgresDatabase,
                                                          tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000001_a.sql",
                       "CREATE TABLE a (id int);\nROLLBACK;\nCREATE TABLE b (id int);\n")
    with pytest.raises(MigrationError, match="would abort the transaction") as caught:
        await db.apply_migration(m, lock_timeout_ms=1000)
    assert caught.value.line == 2
    assert await tables(db) == [] and await history(db) == []


async def test_an_unterminated_comment_cannot_swallow_the_history_row(
        db: PostgresDatabase, tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000001_a.sql",
                       "CREATE TABLE a (id int);\n/* never closed\n")
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(m, lock_timeout_ms=1000)
    assert (caught.value.sqlstate, caught.value.line) == ("42601", 2)
    assert "unterminated comment" in caught.value.error
    assert await tables(db) == [] and await history(db) == []


async def test_a_duplicate_version_fails_on_the_history_row(db: PostgresDatabase,
                                                            tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260107_001_a.sql", "CREATE TABLE a (id int);")
    b = make_migration(tmp_path, "20260107_002_b.sql", "CREATE TABLE b (id int);")
    await db.apply_migration(a, lock_timeout_ms=1000)
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(b, lock_timeout_ms=1000)
    assert caught.value.sqlstate == "23505"
    assert caught.value.statement == ""
    assert "version 20260107 in supabase_migrations.schema_migrations" in caught.value.error
    assert await tables(db) == ["a"]


async def test_lock_timeout_fires_when_another_connection_holds_a_lock(
        db: PostgresDatabase, fresh_db: str, tmp_path: Path) -> None:
    first = make_migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);")
    await db.apply_migration(first, lock_timeout_ms=1000)
    m = make_migration(tmp_path, "20260107000002_b.sql",
                       "CREATE TABLE b (id int);\n\nALTER TABLE a ADD COLUMN x int;\n")
    async with await psycopg.AsyncConnection.connect(fresh_db) as holder:
        await holder.execute("LOCK TABLE a IN ACCESS SHARE MODE")  # an open transaction
        started = time.monotonic()
        with pytest.raises(MigrationError) as caught:
            await db.apply_migration(m, lock_timeout_ms=200)
        elapsed = time.monotonic() - started
        await holder.rollback()
    assert caught.value.sqlstate == "55P03"
    assert "lock timeout" in caught.value.error
    assert caught.value.line == 3
    assert elapsed < 5  # two bounded waits (the run and the rerun that finds the line)
    assert await tables(db) == ["a"]
    await db.apply_migration(m, lock_timeout_ms=200)  # lock released: it goes through
    assert await tables(db) == ["a", "b"]


async def test_statement_timeout(db: PostgresDatabase, tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000001_a.sql", "SELECT 1;\nSELECT pg_sleep(5);\n")
    started = time.monotonic()
    with pytest.raises(MigrationError) as caught:
        await db.apply_migration(m, lock_timeout_ms=1000, statement_timeout_ms=100)
    assert time.monotonic() - started < 4
    assert (caught.value.sqlstate, caught.value.line) == ("57014", 2)


async def test_revert_runs_the_rollback_and_deletes_the_history_row(
        db: PostgresDatabase, tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);",
                       "DROP TABLE a;")
    noop = make_migration(tmp_path, "20260107000002_docs.sql", "COMMENT ON TABLE a IS 'x';",
                          "-- deploybot:rollback no-op\n")
    assert noop.rollback_noop
    await db.apply_migration(a, lock_timeout_ms=1000)
    await db.apply_migration(noop, lock_timeout_ms=1000)
    await db.revert_migration(noop, lock_timeout_ms=1000)
    assert [v for v, _, _ in await history(db)] == ["20260107000001"]
    assert await tables(db) == ["a"]
    await db.revert_migration(a, lock_timeout_ms=1000)
    assert await history(db) == [] and await tables(db) == []


async def test_a_failing_rollback_changes_nothing(db: PostgresDatabase,
                                                  tmp_path: Path) -> None:
    a = make_migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);",
                       "DROP TABLE a;\nDROP TABLE not_there;\n")
    await db.apply_migration(a, lock_timeout_ms=1000)
    with pytest.raises(MigrationError) as caught:
        await db.revert_migration(a, lock_timeout_ms=1000)
    assert caught.value.migration.relpath == "migrations/rollback/20260107000001_a.sql"
    assert caught.value.line == 2 and caught.value.sqlstate == "42P01"
    assert await tables(db) == ["a"]
    assert [v for v, _, _ in await history(db)] == ["20260107000001"]
    missing = make_migration(tmp_path, "20260107000002_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="no rollback script"):
        await db.revert_migration(missing, lock_timeout_ms=1000)


async def test_fetch_as_a_role_with_claims_is_rolled_back(shim_db: str) -> None:
    async with PostgresDatabase(shim_db) as db:
        await db.execute("CREATE TABLE notes (id int, owner uuid DEFAULT auth.uid());"
                         "GRANT SELECT, INSERT ON notes TO authenticated")
        sub = "00000000-0000-0000-0000-000000000001"
        rows = await db.fetch(
            "INSERT INTO notes (id) VALUES (%(id)s) "
            "RETURNING owner::text, current_user AS who, auth.role() AS role",
            {"id": 1}, role="authenticated", claims={"sub": sub})
        assert rows == [{"owner": sub, "who": "authenticated", "role": "authenticated"}]
        assert await db.fetch("SELECT count(*) AS n FROM notes") == [{"n": 0}]
        owner = conninfo_to_dict(shim_db)["user"]  # back to the environment's own role
        assert await db.fetch("SELECT current_user AS who") == [{"who": owner}]
        assert await db.fetch("SET search_path = public") == []


async def test_losing_the_connection_mid_file_is_database_unavailable(
        db: PostgresDatabase, tmp_path: Path) -> None:
    m = make_migration(tmp_path, "20260107000001_a.sql",
                       "CREATE TABLE a (id int);\nSELECT pg_terminate_backend(pg_backend_pid());\n")
    with pytest.raises(DatabaseUnavailable, match=r"while applying migrations/20260107000001_a"
                       r"\.sql \(it was not committed\)"):
        await db.apply_migration(m, lock_timeout_ms=1000)
    assert await tables(db) == []  # and the driver reconnected to tell


async def test_connection_count_and_server_version(db: PostgresDatabase) -> None:
    assert await db.connection_count() >= 1
    assert await db.server_version_num() >= 150000


async def test_a_broken_connection_is_replaced(db: PostgresDatabase, fresh_db: str) -> None:
    pid = (await db.fetch("SELECT pg_backend_pid() AS pid"))[0]["pid"]
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    await asyncio.sleep(0.1)
    rows = await db.fetch("SELECT pg_backend_pid() AS pid")
    assert rows[0]["pid"] != pid


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_database_fails_after_bounded_retries() -> None:
    port = _closed_port()
    db = PostgresDatabase(f"postgresql://deployer:hunter2@127.0.0.1:{port}/app",
                          connect_retries=3, retry_delay=0.05)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        await db.applied_migrations()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(
        f"cannot reach postgresql://deployer:***@127.0.0.1:{port}/app after 3 attempts: ")
    assert "hunter2" not in message and "refused" in message.lower()


def test_redacted_url_and_libpq_env() -> None:
    url = "postgresql://app%40x:p%40ss%2Fw@db.example:6543/prod?sslmode=require"
    db = PostgresDatabase(url)
    assert db.redacted_url == "postgresql://app%40x:***@db.example:6543/prod?sslmode=require"
    assert "p@ss" not in repr(db)
    assert db.libpq_env() == {"PGUSER": "app@x", "PGPASSWORD": "p@ss/w",
                              "PGHOST": "db.example", "PGPORT": "6543",
                              "PGDATABASE": "prod", "PGSSLMODE": "require"}
    socket_db = PostgresDatabase("postgresql://postgres@/staging?host=/tmp/pgdata/run")
    assert socket_db.libpq_env() == {"PGUSER": "postgres", "PGDATABASE": "staging",
                                     "PGHOST": "/tmp/pgdata/run"}
    assert socket_db.redacted_url == "postgresql://postgres@/staging?host=/tmp/pgdata/run"
    assert redact("host=h port=1 user=u password=secret dbname=d") == \
        "postgresql://u:***@h:1/d"
    assert redact("postgresql://[oops") == "<unparseable database URL>"


async def test_libpq_env_is_enough_for_psql(db: PostgresDatabase, fresh_db: str) -> None:
    tools = db.tools(await db.server_version_num())
    out = await run([tools.psql, "-XAtc", "SELECT current_database()"], subprocess_env(db))
    assert out.strip() == fresh_db.rsplit("/", 1)[1]
