"""The RLS test suite (tests/backend/rls_suite.sql, pgTAP), run as the bot's verify step runs
it: with pgTAP from the server's extension and with the packaged SQL on the worker."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.backend.backend_sql import (
    SUITE,
    apply_file,
    migrations,
    row_counts,
    run_suite,
    schema_snapshot,
)
from workers.runbook import pgtap
from workers.runbook.tap import TapTest

QUOTES_TEST = "customers see only their own quotes"


def server_has_pgtap(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT EXISTS (SELECT FROM pg_available_extensions "
                            "WHERE name = 'pgtap')").fetchone() == (True,)


@pytest.fixture(params=["server", "package"])
def package(request: pytest.FixtureRequest, shim_db: str) -> Path | None:
    """Where pgTAP comes from: the server's extension (None), or the packaged SQL, named
    explicitly so it is used even where the server has the extension."""
    if request.param == "server":
        if not server_has_pgtap(shim_db):
            pytest.skip("the test server has no pgtap extension "
                        "(apt-get install postgresql-<major>-pgtap on the server)")
        return None
    found = pgtap.packaged_sql(15)
    assert found is not None, ("no packaged pgTAP SQL on this machine: .ci/test installs "
                               "postgresql-15-pgtap")
    return found


@pytest.fixture
def migrated_db(shim_db: str) -> str:
    for m in migrations():
        apply_file(shim_db, m.path)
    return shim_db


# Roles are the cluster's: other tests running at the same time make their owners.
OTHER_TESTS_ROLES = "rolname !~ '^t_[0-9a-f]+_owner$'"


def by_name(result: pgtap.FileResult, name: str) -> TapTest:
    matches = [t for t in result.report.tests if t.name == name]
    assert len(matches) == 1, f"{name!r} appears {len(matches)} times"
    return matches[0]


async def test_suite_passes_on_the_migrated_schema(migrated_db: str,
                                                   package: Path | None) -> None:
    result = await run_suite(migrated_db, package=package)
    report = result.report
    assert result.passed, result.problems()
    assert report.plan is not None and report.plan >= 26
    assert [t.number for t in report.tests] == list(range(1, report.plan + 1))
    names = [t.name for t in report.tests]
    assert len(set(names)) == len(names), "test names must be unique"
    # every test knows the line of the file that asserts it
    lines = SUITE.read_text().splitlines()
    for test in report.tests:
        assert test.source_line is not None
        assert lines[test.source_line - 1].strip(), test.line()


async def test_suite_reports_a_dropped_policy_at_its_line(migrated_db: str,
                                                          package: Path | None) -> None:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("DROP POLICY quotes_select_own ON public.quotes")
    result = await run_suite(migrated_db, package=package)
    report = result.report
    assert report.plan is not None and len(report.tests) == report.plan
    failed = by_name(result, QUOTES_TEST)
    assert failed.failed and failed.diagnostics, "a failing test says why"
    [note] = [a for a in result.annotations() if QUOTES_TEST in a.message]
    assert note.path == "tests/backend/rls_suite.sql"
    assert QUOTES_TEST in SUITE.read_text().splitlines()[note.line - 1]
    # the rest of the suite still ran and still judges on its own
    assert not by_name(result, "anon sees no quotes").failed


async def test_suite_reports_verification_fields_opened_to_customers(
        migrated_db: str, package: Path | None) -> None:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute(
            "DROP TRIGGER point_transactions_guard_verification ON public.point_transactions"
        )
        conn.execute("GRANT UPDATE ON public.point_transactions TO authenticated")
        conn.execute(
            "CREATE POLICY oops ON public.point_transactions FOR UPDATE TO authenticated "
            "USING (user_id = auth.uid())"
        )
    result = await run_suite(migrated_db, package=package)
    assert result.error is None, result.error
    assert by_name(result, "authenticated cannot set point_transactions verification "
                           "fields").failed
    assert by_name(result, "platform-only fields are guarded by triggers whatever the "
                           "grants").failed


async def test_suite_leaves_nothing_behind(migrated_db: str, package: Path | None) -> None:
    schema_before = schema_snapshot(migrated_db)
    rows_before = row_counts(migrated_db)
    with psycopg.connect(migrated_db) as conn:
        roles_before = conn.execute(
            f"SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles WHERE {OTHER_TESTS_ROLES}"
        ).fetchone()

    result = await run_suite(migrated_db, package=package)
    assert result.passed, result.problems()

    assert row_counts(migrated_db) == rows_before
    assert schema_snapshot(migrated_db) == schema_before  # pgTAP's schema went too
    with psycopg.connect(migrated_db) as conn:
        roles_after = conn.execute(
            f"SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles WHERE {OTHER_TESTS_ROLES}"
        ).fetchone()
        assert roles_after == roles_before
        # the helpers were temporary functions of the suite's transaction
        temp_functions = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname LIKE 'pg_temp%'"
        ).fetchone()
        assert temp_functions == (0,)
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgtap'"
                            ).fetchone() == (0,)


async def test_suite_stops_at_the_line_that_needs_a_missing_table(
        shim_db: str, package: Path | None) -> None:
    """Without the migrations the first fixture fails: the file stops there, naming the
    missing table at its line, and every planned test counts as not run."""
    result = await run_suite(shim_db, package=package)
    assert not result.passed
    assert result.error is not None
    line, message = result.error
    assert "does not exist" in message
    assert "pg_temp.keep('a', pg_temp.new_user())" in SUITE.read_text().splitlines()[line]
    assert any("planned tests reported nothing" in p for p in result.problems())
