"""Issue 11, item 5: a migration cannot end the transaction it runs in and keep what it did.

The attack: `CREATE FUNCTION begin() …` made the splitter think a routine body was open, so
a following `commit;` went to the server inside what looked like one statement; the file
then failed, was reported as rolled back, and a column stayed dropped. The defences, each
tested here so that removing it fails a test:

- the splitter opens a routine body only at BEGIN ATOMIC;
- COMMIT / ROLLBACK written with comments are still recognised as transaction control;
- a statement that changes how the server reads text (standard_conforming_strings,
  client_encoding) stops the file before the next statement is sent;
- whatever the splitter believed, the driver checks the commands the server really ran
  (command tags, transaction status, a guard before the history row): a file that ended
  its own transaction is a failure whose undo restores the verified backup;
- the lint names a DO block or procedure call that would commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import workers.drivers.database as database_driver
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, cli_project
from tests.migrations.helpers import make_migration
from workers.cli import main
from workers.drivers.database import PostgresDatabase
from workers.drivers.interfaces import MigrationError
from workers.repository.migration_files import discover, lint
from workers.repository.sql_split import SplitResult, Statement, split

BEGIN_FUNCTION_ATTACK = """\
create function begin() returns int language sql as $$ select 1 $$;
alter table public.quotes drop column currency;
commit;
select no_such_function();
"""

# The splitter's own heuristic is out of the picture here: DO hides the CALL from the lint.
COMMITTING_PROCEDURE = """\
create procedure public.drop_currency() language plpgsql as $$
begin
  alter table public.quotes drop column currency;
  commit;
end $$;
do $$ begin call public.drop_currency(); end $$;
"""

HIDDEN_COMMIT = """\
alter table public.quotes drop column currency;
commit;
select no_such_function();
"""

# The marker written the way deploybot writes it, by the file itself after its COMMIT.
FORGED_MARKER = (
    "alter table t drop column c;\ncommit;\n"
    "select pg_catalog.set_config('deploybot.migration_xact', pg_catalog.txid_current()::text,"
    " true);\n")


def _one_statement(text: str) -> SplitResult:
    """A splitter bug nobody knows of yet: the whole file taken for one statement."""
    return SplitResult([Statement(text.strip().rstrip(";"), 1, 0, text.strip())])


def _columns(url: str, table: str = "public.quotes") -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
            "and not attisdropped order by attnum", (table,)).fetchall()
    return [r[0] for r in rows]


def _history(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "select version from supabase_migrations.schema_migrations order by 1")]


# --------------------------------------------------------------------------- the splitter


def test_a_function_named_begin_opens_no_body() -> None:
    statements = [s.sql for s in split(BEGIN_FUNCTION_ATTACK).statements]
    assert statements == [
        "create function begin() returns int language sql as $$ select 1 $$",
        "alter table public.quotes drop column currency",
        "commit",
        "select no_such_function()",
    ]
    # A SQL-standard body still holds its semicolons.
    atomic = split("create function f() returns int language sql\n"
                   "begin atomic select case when true then 1 end; end;\nselect 2;")
    assert [s.line for s in atomic.statements] == [1, 3]


# --------------------------------------------------------------------------- the lint


def _lint(tmp_path: Path, sql: str) -> list[str]:
    make_migration(tmp_path, "20260301000000_x.sql", sql, "-- deploybot:rollback no-op\n")
    return [str(p) for p in lint(discover(tmp_path), [])]


def test_the_lint_names_transaction_control_hidden_in_routines(tmp_path: Path) -> None:
    found = _lint(tmp_path, COMMITTING_PROCEDURE.replace(
        "do $$ begin call public.drop_currency(); end $$;",
        "call public.drop_currency();\n"
        "do $$ begin update public.quotes set status = 'x'; commit; end $$;"))
    assert any(p.startswith("migrations/20260301000000_x.sql:1: warning: procedure "
                            "public.drop_currency runs COMMIT") for p in found), found
    call = [p for p in found if ":6: " in p]
    assert call and "calls a procedure that commits" in call[0] and "warning" not in call[0]
    block = [p for p in found if ":7: " in p]
    assert block and "runs COMMIT inside a DO block" in block[0] and "warning" not in block[0]


def test_the_lint_refuses_settings_that_change_how_text_is_read(tmp_path: Path) -> None:
    found = _lint(tmp_path, "select 1;\nset standard_conforming_strings = off;\n")
    assert [p for p in found if ":2: " in p and "standard_conforming_strings" in p
            and "warning" not in p], found


# --------------------------------------------------------------------------- the driver


@pytest.fixture
def table_db(fresh_db: str) -> str:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create table t (id int, c int)")
    return fresh_db


async def _apply(url: str, root: Path, sql: str) -> MigrationError | None:
    migration = make_migration(root, "20260301000000_x.sql", sql)
    async with PostgresDatabase(url) as db:
        try:
            await db.apply_migration(migration, lock_timeout_ms=2000)
        except MigrationError as exc:
            return exc
    return None


async def test_a_commit_written_with_a_comment_is_still_transaction_control(
        table_db: str, tmp_path: Path) -> None:
    error = await _apply(table_db, tmp_path,
                         "alter table t drop column c;\ncommit /* done */;\nselect 1/0;\n")
    assert error is not None and not error.transaction_ended and error.line == 3
    assert _columns(table_db, "t") == ["id", "c"]


async def test_a_statement_that_changes_how_text_is_read_stops_the_file(
        table_db: str, tmp_path: Path) -> None:
    # DO hides the setting from the lint; the file has its own BEGIN/COMMIT, so it runs
    # statement by statement. With the setting off, the server would read the third
    # statement as four: the string ends at \', and the COMMIT would run.
    error = await _apply(table_db, tmp_path, (
        "begin;\n"
        "do $$ begin execute 'set standard_conforming' || '_strings = off'; end $$;\n"
        "select 'x\\', '; alter table t drop column c; commit; select 1/0; -- '\n;\n"
        "commit;\n"))
    assert error is not None and error.line == 2
    assert "standard_conforming_strings" in error.error
    assert _columns(table_db, "t") == ["id", "c"]


@pytest.mark.parametrize("sql", [
    "alter table t drop column c;\ncommit;\nselect 1/0;\n",  # fails after the COMMIT
    "alter table t drop column c;\ncommit;\nselect 1;\n",  # succeeds after it
    "alter table t add column d int;\nrollback;\nalter table t add column e int;\n",
])
async def test_a_file_that_ends_its_transaction_is_caught_whatever_the_splitter_saw(
        sql: str, table_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_driver, "split", _one_statement)
    error = await _apply(table_db, tmp_path, sql)
    assert error is not None and error.transaction_ended, error
    assert "ended the file's own transaction" in error.error
    assert error.line == 1 and error.statement.startswith("alter table t")
    with psycopg.connect(table_db) as conn:  # no history row claims the file applied
        row = conn.execute("select to_regclass('supabase_migrations.schema_migrations')"
                           ).fetchone()
        assert row is not None
        if row[0] is not None:
            assert conn.execute("select count(*) from supabase_migrations.schema_migrations"
                                ).fetchone() == (0,)


async def test_a_commit_followed_by_a_forged_marker_is_caught_by_its_command_tag(
        table_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file commits, then sets the guard's marker to the transaction the server opens
    implicitly after a COMMIT in one message: the guard passes, and that transaction ends
    (with a warning) at the COMMIT deploybot sends, so the status is what a good file leaves.
    Only the file's own COMMIT tag tells; the history row commits with the implicit
    transaction, which is why the undo is the backup (the end-to-end test below)."""
    monkeypatch.setattr(database_driver, "split", _one_statement)
    error = await _apply(table_db, tmp_path, FORGED_MARKER)
    assert error is not None and error.transaction_ended, error
    assert "ended the file's own transaction: the server ran a COMMIT" in error.error
    assert error.line == 1 and error.statement.startswith("alter table t")


def _rollback_hidden_in_the_statement_before(text: str) -> SplitResult:
    """A splitter bug nobody knows of yet: a ROLLBACK taken for part of the statement before
    it (a lone ROLLBACK is refused before anything runs)."""
    out: list[Statement] = []
    for s in split(text).statements:
        if s.sql.lower() == "rollback" and out:
            before = out.pop()
            s = Statement(f"{before.sql};\n{s.sql}", before.line, before.offset,
                          f"{before.source};\n{s.source}")
        out.append(s)
    return SplitResult(out)


async def test_a_hidden_rollback_is_caught_by_the_transaction_status_alone(
        table_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file with its own BEGIN/COMMIT runs statement by statement. A ROLLBACK hidden in
    the second statement ends the transaction, and its tag is ROLLBACK, which ROLLBACK TO
    SAVEPOINT shares, so no command tag tells; the guard never runs because a later
    statement fails. Were the file not stopped there, the DROP after it would run outside
    any transaction (committed at once), and the failure after that would be reported as
    rolled back with the column gone. Only the status after the statement catches it."""
    monkeypatch.setattr(database_driver, "split", _rollback_hidden_in_the_statement_before)
    error = await _apply(table_db, tmp_path, (
        "begin;\nselect 1;\nrollback;\nalter table t drop column c;\nselect 1/0;\ncommit;\n"))
    assert error is not None and error.transaction_ended, error
    assert "the server ran a ROLLBACK" in error.error
    assert error.line == 2 and error.statement == "select 1;\nrollback"
    assert _columns(table_db, "t") == ["id", "c"]


async def test_savepoints_are_not_mistaken_for_an_ended_transaction(
        table_db: str, tmp_path: Path) -> None:
    error = await _apply(table_db, tmp_path, (
        "savepoint a;\nalter table t add column d int;\nrollback to savepoint a;\n"
        "alter table t add column e int;\n"))
    assert error is None
    assert _columns(table_db, "t") == ["id", "c", "e"]


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    names = [create_database("bot"), create_database("stg")]
    bot, stg = (database_url(n) for n in names)
    stg = prepare_environment(stg)
    repo = cli_project(tmp_path, monkeypatch, bot=bot, staging=stg)
    try:
        assert main(["deploy", "staging"]) == 0
        yield {"url": stg, "repo": str(repo)}
    finally:
        for n in names:
            drop_database(n)


def _deploy_attack(staging: dict[str, str], name: str, sql: str) -> int:
    sha = branch_with(Path(staging["repo"]), name, {
        f"migrations/20260301000000_{name}.sql": sql,
        f"migrations/rollback/20260301000000_{name}.sql": "-- deploybot:rollback no-op\n",
    })
    return main(["deploy", "staging", "--ref", sha])


def test_deploying_the_begin_function_attack_drops_nothing(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    before = _history(staging["url"])
    capsys.readouterr()
    assert _deploy_attack(staging, "begin_attack", BEGIN_FUNCTION_ATTACK) == 1
    out = capsys.readouterr().out
    assert "no_such_function" in out
    assert "currency" in _columns(staging["url"])
    assert _history(staging["url"]) == before


def test_deploying_a_procedure_that_commits_drops_nothing(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    before = _history(staging["url"])
    capsys.readouterr()
    assert _deploy_attack(staging, "procedure_attack", COMMITTING_PROCEDURE) == 1
    out = capsys.readouterr().out
    assert "invalid transaction termination" in out
    assert "currency" in _columns(staging["url"])
    assert _history(staging["url"]) == before


def test_a_call_of_a_procedure_that_commits_is_refused_before_anything_runs(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    sql = COMMITTING_PROCEDURE.replace("do $$ begin call public.drop_currency(); end $$;",
                                       "call public.drop_currency();")
    assert _deploy_attack(staging, "call_attack", sql) == 1
    out = capsys.readouterr().out
    assert "20260301000000_call_attack.sql:6" in out
    assert "calls a procedure that commits" in out
    assert "currency" in _columns(staging["url"])


def test_a_hidden_commit_the_splitter_missed_is_undone_from_the_backup(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with a splitter that sees one statement where the server runs
    three, the COMMIT does reach the server; the driver sees it ran, and the undo restores
    the verified backup instead of claiming the file was rolled back."""
    before = _history(staging["url"])
    monkeypatch.setattr(database_driver, "split", _one_statement)
    capsys.readouterr()
    assert _deploy_attack(staging, "hidden_commit", HIDDEN_COMMIT) == 1
    out = capsys.readouterr().out
    assert "ended the file's own transaction" in out
    assert "restored the backup" in out
    assert "currency" in _columns(staging["url"])
    assert _history(staging["url"]) == before


def test_a_commit_followed_by_a_forged_marker_is_undone_from_the_backup(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The forged-marker file of the driver test above, deployed. A CREATE INDEX
    CONCURRENTLY in a later file makes the deployment commit each file in its own
    transaction (in the one-transaction path the file's COMMIT also ends the deployment's
    transaction, and the savepoint release after it fails). The file's COMMIT and the
    history row are committed; the deployment fails and the undo restores the backup."""
    before = _history(staging["url"])
    monkeypatch.setattr(database_driver, "split", _one_statement)
    sha = branch_with(Path(staging["repo"]), "forged_marker", {
        "migrations/20260301000000_forged_marker.sql": FORGED_MARKER.replace(
            "alter table t drop column c", "alter table public.quotes drop column currency"),
        "migrations/rollback/20260301000000_forged_marker.sql": "-- deploybot:rollback no-op\n",
        "migrations/20260301000001_index.sql":
            "create index concurrently quotes_forged_idx on public.quotes (id);\n",
        "migrations/rollback/20260301000001_index.sql":
            "drop index concurrently public.quotes_forged_idx;\n",
    })
    capsys.readouterr()
    assert main(["deploy", "staging", "--ref", sha]) == 1
    out = capsys.readouterr().out
    assert "not one transaction" in out
    assert "ended the file's own transaction: the server ran a COMMIT" in out
    assert "restored the backup" in out
    assert "currency" in _columns(staging["url"])
    assert _history(staging["url"]) == before
