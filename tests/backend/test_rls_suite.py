"""The RLS test suite (tests/backend/rls_suite.sql), run with psql as a person and the bot do."""

from __future__ import annotations

import psycopg
import pytest

from tests.backend.backend_sql import apply_file, migrations, row_counts, run_suite, schema_snapshot

QUOTES_TEST = "customers see only their own quotes"


@pytest.fixture
def migrated_db(shim_db: str) -> str:
    for m in migrations():
        apply_file(shim_db, m.path)
    return shim_db


def test_suite_passes_on_the_migrated_schema(migrated_db: str) -> None:
    run = run_suite(migrated_db)
    assert run.returncode == 0, run.stderr
    assert run.plan is not None, f"first line is not a TAP plan:\n{run.stdout}"
    assert not run.other_lines, f"stray output on stdout: {run.other_lines}"
    assert [r.number for r in run.results] == list(range(1, run.plan + 1))
    failed = [f"{r.number} {r.name}: {r.reason}" for r in run.results if not r.ok]
    assert not failed, "\n".join(failed)
    assert run.plan >= 12
    names = [r.name for r in run.results]
    assert len(set(names)) == len(names), "test names must be unique"
    assert "ERROR" not in run.stderr, run.stderr


def test_suite_reports_a_dropped_policy_by_name(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("DROP POLICY quotes_select_own ON public.quotes")
    run = run_suite(migrated_db)
    assert run.plan is not None and len(run.results) == run.plan, run.stdout
    result = run.by_name(QUOTES_TEST)
    assert not result.ok, run.stdout
    assert result.reason, "a failing test says why"
    # the rest of the suite still ran and still judges on its own
    assert run.by_name("anon sees no quotes").ok


def test_suite_reports_verification_fields_opened_to_customers(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute(
            "DROP TRIGGER point_transactions_guard_verification ON public.point_transactions"
        )
        conn.execute("GRANT UPDATE ON public.point_transactions TO authenticated")
        conn.execute(
            "CREATE POLICY oops ON public.point_transactions FOR UPDATE TO authenticated "
            "USING (user_id = auth.uid())"
        )
    run = run_suite(migrated_db)
    assert not run.by_name("authenticated cannot set point_transactions verification fields").ok
    assert not run.by_name("platform-only fields are guarded by triggers whatever the grants").ok


def test_suite_leaves_nothing_behind(migrated_db: str) -> None:
    schema_before = schema_snapshot(migrated_db)
    rows_before = row_counts(migrated_db)
    with psycopg.connect(migrated_db) as conn:
        roles_before = conn.execute(
            "SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles"
        ).fetchone()

    run = run_suite(migrated_db)
    assert run.plan is not None and all(r.ok for r in run.results), run.stdout

    assert row_counts(migrated_db) == rows_before
    assert schema_snapshot(migrated_db) == schema_before
    with psycopg.connect(migrated_db) as conn:
        roles_after = conn.execute(
            "SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles"
        ).fetchone()
        assert roles_after == roles_before
        # the helpers were temporary functions of the suite's session
        temp_functions = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname LIKE 'pg_temp%'"
        ).fetchone()
        assert temp_functions == (0,)


def test_suite_keeps_going_when_everything_fails(shim_db: str) -> None:
    """Without the migrations every test errors; each becomes `not ok`, none aborts the suite."""
    run = run_suite(shim_db)
    assert run.plan is not None, run.stdout
    assert [r.number for r in run.results] == list(range(1, run.plan + 1)), run.stdout
    assert not any(r.ok for r in run.results), run.stdout
    assert all(r.reason for r in run.results)
    assert not run.other_lines, run.other_lines
    assert "ERROR" not in run.stderr, run.stderr
