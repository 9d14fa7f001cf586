"""pgTAP files run like `supabase test db`: pgTAP from the server or from the worker's
package, loaded in the file's own transaction, which is rolled back — also for an owner
that is not a superuser."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.backups.conftest import as_database
from tests.conftest import ADMIN_URL, create_database, database_url, drop_database
from workers.runbook import pgtap

PGTAP_FILE = """\
begin;
create extension if not exists pgtap with schema extensions;
select plan(3);

select ok(true, 'the first holds');
select is(1 + 1,
          3,
          'the second fails on purpose');
select results_eq('select 1', array[1], 'the third holds');
create table public.left_behind (id int);

select * from finish();
commit;
"""


@pytest.fixture
def owned_db() -> Iterator[str]:
    """A database owned by a role that is not a superuser (like Supabase's `postgres`),
    as a URL that connects as that role."""
    role = f"owner_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(sql.Identifier(role)))
    name = create_database("pgtap")
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(name), sql.Identifier(role)))
    with psycopg.connect(database_url(name), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))
    try:
        yield make_conninfo(database_url(name), user=role)
    finally:
        drop_database(name)
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def packaged() -> Path:
    found = pgtap.packaged_sql(15)
    assert found is not None, "no packaged pgTAP SQL: .ci/test installs postgresql-15-pgtap"
    return found


def test_the_packaged_sql_is_found_and_the_server_major_preferred(tmp_path: Path) -> None:
    assert packaged().name.startswith("pgtap--") and "--" not in packaged().name[7:]
    for major, version in (("14", "1.1.0"), ("15", "1.2.0"), ("16", "1.3.0")):
        write(tmp_path, f"{major}/extension/pgtap--{version}.sql", "-- pgTAP\n")
    write(tmp_path, "16/extension/pgtap--1.2.0--1.3.0.sql", "-- an upgrade\n")
    assert pgtap.packaged_sql(15, (tmp_path,)) == tmp_path / "15/extension/pgtap--1.2.0.sql"
    assert pgtap.packaged_sql(17, (tmp_path,)) == tmp_path / "16/extension/pgtap--1.3.0.sql"
    assert pgtap.packaged_sql(15, (tmp_path / "none",)) is None


@pytest.mark.parametrize("where", ["package", "server"])
async def test_a_file_runs_rolled_back_for_an_owner_that_is_no_superuser(
        owned_db: str, tmp_path: Path, where: str) -> None:
    db = as_database(owned_db)
    if where == "server":
        source = await pgtap.locate(db)
        if source.kind != "extension":
            pytest.skip("the test server has no pgtap extension "
                        "(apt-get install postgresql-<major>-pgtap on the server)")
    else:
        source = await pgtap.locate(db, package=packaged())
        assert source.kind == "package" and source.version
    path = write(tmp_path, "supabase/tests/basics.sql", PGTAP_FILE)
    result = await pgtap.run_file(db, tmp_path, path, source, lock_timeout_ms=5000)

    assert result.error is None, result.error
    assert [(t.number, t.ok) for t in result.report.tests] == [(1, True), (2, False), (3, True)]
    assert result.problems() == ["supabase/tests/basics.sql:8: not ok 2 - the second fails on "
                                 "purpose"]
    [note] = result.annotations()
    assert (note.path, note.line) == ("supabase/tests/basics.sql", 8)  # its description
    assert "have: 2" in note.message and "want: 3" in note.message
    assert any("create extension" in left for left in result.left_out)
    # the file's COMMIT did not commit; pgTAP and its schema went with the rollback
    rows = await db.fetch("SELECT to_regclass('public.left_behind') IS NULL AS gone, "
                          "(SELECT count(*) FROM pg_namespace WHERE nspname LIKE "
                          "'\\_deploybot\\_pgtap\\_%') AS schemas, "
                          "(SELECT count(*) FROM pg_extension WHERE extname = 'pgtap') AS ext")
    assert rows == [{"gone": True, "schemas": 0, "ext": 0}]


AS_AUTHENTICATED = """\
begin;
select plan(2);
set local role authenticated;
select ok(current_user = 'authenticated', 'runs as the API role');
select results_eq('select 1', array[1], 'pgTAP is callable by it');
select * from finish();
rollback;
"""


@pytest.mark.parametrize("where", ["package", "server"])
async def test_pgtap_stays_callable_when_the_owner_revoked_execute_by_default(
        shim_db: str, tmp_path: Path, where: str) -> None:
    # As basejump's first migration does: no EXECUTE for PUBLIC on the owner's new functions.
    with psycopg.connect(shim_db, autocommit=True) as conn:
        conn.execute("ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC")
    db = as_database(shim_db)
    source = await (pgtap.locate(db) if where == "server" else
                    pgtap.locate(db, package=packaged()))
    if source.kind != {"server": "extension", "package": "package"}[where]:
        pytest.skip("the test server has no pgtap extension")
    path = write(tmp_path, "t.sql", AS_AUTHENTICATED)
    result = await pgtap.run_file(db, tmp_path, path, source, lock_timeout_ms=5000)
    assert result.error is None and result.passed, (result.error, result.problems())


async def test_a_seed_runs_first_in_the_files_transaction_and_a_failing_one_is_named(
        shim_db: str, tmp_path: Path) -> None:
    db = as_database(shim_db)
    source = await pgtap.locate(db, package=packaged())
    seed = pgtap.prepare_seed("supabase/seed.sql", "begin;\ncreate table public.seeded "
                              "(n int);\ninsert into public.seeded values (7);\ncommit;\n")
    path = write(tmp_path, "t.sql", "select plan(1);\n"
                 "select is((select n from public.seeded), 7, 'seeded');\n")
    result = await pgtap.run_file(db, tmp_path, path, source, lock_timeout_ms=5000, seed=seed)
    assert result.passed, (result.error, result.problems())
    assert (await db.fetch("SELECT to_regclass('public.seeded') IS NULL AS gone")) == [
        {"gone": True}]

    broken = pgtap.prepare_seed("supabase/seed.sql", "select 1;\n\ninsert into nowhere "
                                "values (1);\n")
    result = await pgtap.run_file(db, tmp_path, path, source, lock_timeout_ms=5000,
                                  seed=broken)
    assert result.error is not None
    assert result.error[1].startswith("the test seed supabase/seed.sql failed at its line 3: ")
    with pytest.raises(ValueError, match=r"supabase/seed.sql:1: psql meta-command `\\i`"):
        pgtap.prepare_seed("supabase/seed.sql", "\\i other.sql\n")


async def test_an_installed_pgtap_is_used_where_it_is(shim_db: str, tmp_path: Path) -> None:
    db = as_database(shim_db)
    if (await pgtap.locate(db)).kind != "extension":
        pytest.skip("the test server has no pgtap extension")
    with psycopg.connect(shim_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgtap WITH SCHEMA extensions")  # the shim made it
    source = await pgtap.locate(db)
    assert (source.kind, source.schema) == ("installed", "extensions")
    path = write(tmp_path, "t.sql", "select plan(1);\nselect pass('fine');\n")
    result = await pgtap.run_file(db, tmp_path, path, source, lock_timeout_ms=5000)
    assert result.passed, result.problems()


async def test_without_pgtap_the_message_says_how_to_get_it(fresh_db: str,
                                                            tmp_path: Path) -> None:
    path = write(tmp_path, "t.sql", "begin;\nselect plan(1);\nselect ok(true);\nrollback;\n")
    result = await pgtap.run_file(as_database(fresh_db), tmp_path, path,
                                  pgtap.PgTapSource("none"), lock_timeout_ms=5000)
    assert result.error is not None
    line, message = result.error
    assert line == 2 and "function plan(integer) does not exist" in message
    assert "apt-get install postgresql-15-pgtap" in message
    assert "CREATE EXTENSION pgtap" in message


@pytest.mark.parametrize("command", ["\\! touch /tmp/pwned", "\\i other.sql",
                                     "\\set uid 'abc'", "\\copy t to program 'id'"])
def test_psql_meta_commands_that_do_more_than_display_are_refused(command: str) -> None:
    prepared = pgtap.prepare(f"select plan(1);\n{command}\nselect pass('x');\n",
                             pgtap_provided=True)
    assert prepared.refused is not None
    line, message = prepared.refused
    assert line == 2 and "psql meta-command" in message and "write it in SQL" in message


def test_display_settings_and_transaction_control_are_left_out() -> None:
    prepared = pgtap.prepare("\\set QUIET on\n\\pset format unaligned\nBEGIN;\n"
                             "select plan(1);\nSAVEPOINT s;\nselect pass('x');\n"
                             "ROLLBACK TO SAVEPOINT s;\nCOMMIT;\nROLLBACK;\n",
                             pgtap_provided=False)
    assert prepared.refused is None
    assert [(s.line, s.sql) for s in prepared.statements] == [
        (4, "select plan(1)"), (5, "SAVEPOINT s"), (6, "select pass('x')"),
        (7, "ROLLBACK TO SAVEPOINT s")]


def test_test_files_of_a_directory_in_path_order_and_none_outside(tmp_path: Path) -> None:
    write(tmp_path, "supabase/tests/b.sql", "")
    write(tmp_path, "supabase/tests/a/z.pg", "")
    write(tmp_path, "supabase/tests/notes.md", "")
    (tmp_path / "outside.sql").write_text("")
    (tmp_path / "supabase/tests/c.sql").symlink_to(tmp_path.parent)
    (tmp_path / "supabase/tests/d.sql").symlink_to(Path("/etc/hostname"))
    found = pgtap.test_files(tmp_path, "supabase/tests")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "supabase/tests/a/z.pg", "supabase/tests/b.sql"]
