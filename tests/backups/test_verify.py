"""The verify step runs the pgTAP tests and stops the line on any failure."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from service.config import parse_config
from service.config.layout import for_tree
from service.config.model import default_config
from tests.backups.conftest import VersionKnown, as_database, make_ctx
from tests.conftest import REPO
from workers.drivers.backups import LocalBackupStore
from workers.runbook.snapshot import diff, snapshot
from workers.runbook.step import StepFailed, StepSkipped
from workers.steps.verify import SECURITY_STOP, VERIFY

SUITE = REPO / "tests" / "backend" / "rls_suite.sql"


def run_sql(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


def suite_tree(root: Path, text: str) -> Path:
    path = root / "tests" / "backend" / "rls_suite.sql"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return root


@pytest.mark.skipif(not SUITE.exists(), reason="tests/backend/rls_suite.sql not written yet")
async def test_the_project_suite_passes_then_fails_without_a_policy(
        migrated_db: str, tmp_path: Path) -> None:
    ctx = make_ctx(as_database(migrated_db), LocalBackupStore(tmp_path))
    before = await snapshot(migrated_db)
    await VERIFY.run(ctx)
    out = ctx.reporter.output()  # type: ignore[attr-defined]
    lines = [ln for ln in out.splitlines() if ln.startswith("ok ")]
    assert len(lines) >= 26 and "not ok" not in out
    assert "tests passed in 1 file(s)" in out
    assert diff(before, await snapshot(migrated_db)) == []  # the suite rolls itself back

    run_sql(migrated_db, "DROP POLICY quotes_select_own ON public.quotes")
    ctx = make_ctx(as_database(migrated_db), LocalBackupStore(tmp_path))
    with pytest.raises(StepFailed) as failed:
        await VERIFY.run(ctx)
    assert failed.value.stop_the_line == SECURITY_STOP
    assert "customers see only their own quotes" in failed.value.reason
    note = failed.value.annotations[0]  # points at the failing assertion in the suite
    assert note.path == "tests/backend/rls_suite.sql"
    assert "customers see only their own quotes" in SUITE.read_text().splitlines()[note.line - 1]
    assert "not ok" in ctx.reporter.output()  # type: ignore[attr-defined]


OWN_SUITE = r"""
\pset format unaligned
\pset tuples_only on
SELECT '1..4';
SELECT 'ok 1 - anon cannot read secrets';
SELECT 'not ok 2 - owners read their own # saw 3 foreign rows';
SELECT * FROM no_such_table;
SELECT 'ok 3 - service role reads everything';
"""


async def test_failures_errors_and_missing_tests_are_named(fresh_db: str,
                                                           tmp_path: Path) -> None:
    """A suite that prints TAP of its own (no pgTAP) still runs, psql display settings
    left out; its failure, its error and the test it never reached are each named."""
    source = suite_tree(tmp_path / "src", OWN_SUITE)
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path / "b"), source=source)
    with pytest.raises(StepFailed) as failed:
        await VERIFY.run(ctx)
    reason = failed.value.reason
    assert failed.value.stop_the_line == SECURITY_STOP
    assert "not ok 2 - owners read their own (saw 3 foreign rows)" in reason
    assert "2 of 4 planned tests reported nothing: 3-4" in reason
    assert 'rls_suite.sql:7: relation "no_such_table" does not exist' in reason
    out = ctx.reporter.output()  # type: ignore[attr-defined]
    assert "ok 1 - anon cannot read secrets" in out
    assert "left out line 2: `\\pset format unaligned`" in out
    notes = {(a.line, a.title) for a in failed.value.annotations}
    assert notes == {(6, "pgTAP test 2 failed"), (7, "pgTAP file stopped")}


async def test_a_passing_suite_of_our_own(fresh_db: str, tmp_path: Path) -> None:
    source = suite_tree(tmp_path / "src", "\\pset tuples_only on\nSELECT '1..1';\n"
                                          "SELECT 'ok 1 - fine';\n")
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path / "b"), source=source)
    await VERIFY.run(ctx)
    assert "1/1 tests passed" in ctx.reporter.output()  # type: ignore[attr-defined]


async def test_missing_tests_named_in_the_configuration_name_the_path_and_the_setting(
        fresh_db: str, tmp_path: Path) -> None:
    config = parse_config("paths: {rls_suite: db/tests/rls.sql}\n")
    assert config.paths.tests == "db/tests/rls.sql"  # the older name of paths.tests
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path), source=tmp_path,
                   config=config)
    with pytest.raises(StepFailed) as failed:
        await VERIFY.run(ctx)
    assert "db/tests/rls.sql" in failed.value.reason
    assert "paths.tests" in failed.value.reason
    assert VERIFY.undo is None and not VERIFY.read_only


async def test_a_repository_without_tests_says_no_tests_ran(fresh_db: str,
                                                            tmp_path: Path) -> None:
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path), source=tmp_path)
    with pytest.raises(StepSkipped) as skipped:
        await VERIFY.run(ctx)
    assert str(skipped.value) == (
        "no tests ran: tests/backend/rls_suite.sql does not exist at 0123456789ab")
    (tmp_path / "supabase" / "tests").mkdir(parents=True)
    (tmp_path / "supabase" / "tests" / "README.md").write_text("tests go here\n")
    ctx = make_ctx(as_database(fresh_db), LocalBackupStore(tmp_path), source=tmp_path,
                   config=for_tree(default_config(), tmp_path))
    with pytest.raises(StepSkipped) as skipped:
        await VERIFY.run(ctx)
    assert str(skipped.value) == "no tests ran: supabase/tests holds no pgTAP files (*.sql, *.pg)"


async def test_unreachable_database_is_a_connection_stop(fresh_db: str, tmp_path: Path) -> None:
    version = await as_database(fresh_db).server_version_num()
    source = suite_tree(tmp_path / "src", "SELECT '1..1';\n")
    dead = VersionKnown("postgresql://postgres:Sekrit-9@127.0.0.1:1/postgres", version)
    ctx = make_ctx(dead, LocalBackupStore(tmp_path / "b"), source=source)
    with pytest.raises(StepFailed) as failed:
        await VERIFY.run(ctx)
    assert failed.value.stop_the_line == "database connection issues"
    assert "Sekrit-9" not in failed.value.reason + failed.value.output
    ctx = make_ctx(as_database(dead.redacted_url.replace("***", "Sekrit-9")),
                   LocalBackupStore(tmp_path / "b"), source=source)
    with pytest.raises(StepFailed) as failed:
        await VERIFY.run(ctx)
    assert failed.value.stop_the_line == "database connection issues"
    assert "Sekrit-9" not in failed.value.reason
