"""The backend migrations: naming, rollbacks, and that every rollback restores the schema exactly.

Schemas are compared as normalized `pg_dump --schema-only` output of the whole database
(tables, columns, constraints, indexes, policies, triggers, functions, grants, default
privileges), not by counting tables.
"""

from __future__ import annotations

import difflib
from collections import Counter

import psycopg
import pytest

from tests.backend.backend_sql import (
    MIGRATION_NAME,
    MIGRATIONS,
    NOOP_MARKER,
    ROLLBACKS,
    apply_file,
    apply_sql,
    has_statements,
    is_noop,
    migrations,
    schema_snapshot,
)
from tests.conftest import prepare_environment

PHASE1 = [
    "20260107000001_create_quotes_table.sql",
    "20260107000002_alter_print_requests.sql",
    "20260107000003_alter_point_transactions.sql",
    "20260107000004_alter_creator_models.sql",
    "20260107000005_create_quality_points_function.sql",
    "20260107000006_add_rls_policies.sql",
    "20260107000007_enable_leaked_password_protection.sql",
]


def assert_same_schema(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                fromfile="expected",
                tofile="actual",
                lineterm="",
            )
        )
        pytest.fail(f"{what}: schema differs\n{diff}")


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def test_migration_files_are_the_baseline_and_the_runbooks_phase1_in_order() -> None:
    names = [m.path.name for m in migrations()]
    assert names == ["20260101000000_baseline.sql", *PHASE1]


def test_migration_names_follow_the_supabase_cli_rule_with_unique_versions() -> None:
    for m in migrations():
        assert MIGRATION_NAME.match(m.path.name), m.path.name
        assert len(m.version) == 14, f"{m.path.name}: use a 14-digit version"
    dupes = [v for v, n in Counter(m.version for m in migrations()).items() if n > 1]
    assert not dupes, f"duplicate versions {dupes}: the CLI's history key is the version"


def test_every_migration_has_a_rollback_with_the_same_name() -> None:
    missing = [m.path.name for m in migrations() if not m.rollback.is_file()]
    assert not missing, f"no rollback in {ROLLBACKS}: {missing}"
    orphans = sorted(p.name for p in ROLLBACKS.glob("*.sql") if not (MIGRATIONS / p.name).is_file())
    assert not orphans, f"rollbacks without a migration: {orphans}"


def test_noop_rollbacks_carry_the_marker_and_no_statements() -> None:
    for m in migrations():
        text = m.rollback.read_text()
        if is_noop(text):
            assert not has_statements(text), f"{m.rollback.name}: a no-op has no statements"
        else:
            assert has_statements(text), (
                f"{m.rollback.name} has no statements: mark it with {NOOP_MARKER!r} "
                "if there is really nothing to undo"
            )


def test_documentation_only_migration_has_comments_only_and_a_noop_rollback() -> None:
    doc = next(
        m for m in migrations() if m.path.name.endswith("_enable_leaked_password_protection.sql")
    )
    assert not has_statements(doc.path.read_text())
    assert doc.rollback_is_noop
    others = [m for m in migrations() if m != doc]
    assert all(has_statements(m.path.read_text()) for m in others)
    assert not any(m.rollback_is_noop for m in others)


def test_migrations_do_not_create_roles_or_the_auth_schema() -> None:
    # a real Supabase project has them already; the shim provides them elsewhere
    for m in migrations():
        code = " ".join(m.path.read_text().lower().split())
        for forbidden in ("create role", "create user", "create schema", "create extension"):
            assert forbidden not in code, f"{m.path.name}: {forbidden}"


# ---------------------------------------------------------------------------
# The shim
# ---------------------------------------------------------------------------


def test_shim_is_idempotent(fresh_db: str) -> None:
    prepare_environment(fresh_db)  # the shim, applied by the admin as the bot does
    once = schema_snapshot(fresh_db)
    prepare_environment(fresh_db)
    assert_same_schema(schema_snapshot(fresh_db), once, "shim applied twice")


def test_shim_provides_supabase_roles_and_jwt_helpers(shim_db: str) -> None:
    with psycopg.connect(shim_db, autocommit=True) as conn:
        roles = {
            name: attrs
            for name, *attrs in conn.execute(
                """
                SELECT rolname, rolcanlogin, rolinherit, rolbypassrls
                FROM pg_roles
                WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator')
                """
            )
        }
        assert roles["anon"][0] is False and roles["authenticated"][0] is False
        assert roles["service_role"][2] is True
        assert roles["anon"][2] is False and roles["authenticated"][2] is False
        assert roles["authenticator"][1] is False  # NOINHERIT
        granted = conn.execute(
            "SELECT array_agg(r ORDER BY r) FROM unnest(ARRAY['anon', 'authenticated', "
            "'service_role']) r WHERE pg_has_role('authenticator', r, 'MEMBER')"
        ).fetchone()
        assert granted == (["anon", "authenticated", "service_role"],)

        uid = "0b8c2a36-2f0e-4f6a-9a51-3f0b9a1c7d11"
        claims = f'{{"sub": "{uid}", "role": "authenticated", "email": "a@example.invalid"}}'
        with conn.transaction():
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)", [claims])
            conn.execute("SET LOCAL ROLE authenticated")
            row = conn.execute(
                "SELECT auth.uid()::text, auth.role(), auth.jwt() ->> 'email', auth.email()"
            ).fetchone()
        assert row == (uid, "authenticated", "a@example.invalid", "a@example.invalid")
        with conn.transaction():
            assert conn.execute("SELECT auth.uid(), auth.role(), auth.jwt()").fetchone() == (
                None,
                None,
                None,
            )
        # default privileges: what the migrating role creates in public is usable by the API
        # roles (Supabase relies on RLS, not on grants)
        with conn.transaction():
            conn.execute("CREATE TABLE public.probe (id int)")
            privs = conn.execute(
                "SELECT has_table_privilege('anon', 'public.probe', 'SELECT'), "
                "has_table_privilege('authenticated', 'public.probe', 'INSERT'), "
                "has_table_privilege('service_role', 'public.probe', 'DELETE')"
            ).fetchone()
            assert privs == (True, True, True)
            raise psycopg.Rollback()


# ---------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------


def test_each_rollback_restores_the_schema_before_its_migration(shim_db: str) -> None:
    steps = migrations()
    before: list[str] = []  # before[i]: the schema before steps[i] was applied
    for m in steps:
        before.append(schema_snapshot(shim_db))
        apply_file(shim_db, m.path)
    migrated = schema_snapshot(shim_db)
    baseline = before[1]
    assert migrated != baseline, "Phase 1 changed nothing"

    for i in reversed(range(len(steps))):
        m = steps[i]
        if not m.rollback_is_noop:
            apply_file(shim_db, m.rollback)
        assert_same_schema(schema_snapshot(shim_db), before[i], f"after rolling back {m.path.name}")
        if not m.rollback_is_noop:
            # re-runnable by hand (the runbook's nuclear option may be pasted twice)
            apply_file(shim_db, m.rollback)
            assert_same_schema(
                schema_snapshot(shim_db), before[i], f"after rolling back {m.path.name} twice"
            )
        if i == 1:
            assert_same_schema(schema_snapshot(shim_db), baseline, "Phase 1 rolled back")

    # nothing left behind that would stop the migrations from going in again
    for m in steps:
        apply_file(shim_db, m.path)
    assert_same_schema(schema_snapshot(shim_db), migrated, "migrations re-applied after rollback")


def test_phase1_rollback_in_one_go_restores_the_baseline(shim_db: str) -> None:
    """The runbook's nuclear option: all Phase 1 rollbacks back to back, newest first."""
    steps = migrations()
    apply_file(shim_db, steps[0].path)
    baseline = schema_snapshot(shim_db)
    for m in steps[1:]:
        apply_file(shim_db, m.path)
    script = "\n".join(m.rollback.read_text() for m in reversed(steps[1:]))
    apply_sql(shim_db, script)
    assert_same_schema(schema_snapshot(shim_db), baseline, "Phase 1 rolled back in one script")


# ---------------------------------------------------------------------------
# The quotes contract with the edge function
# ---------------------------------------------------------------------------

QUOTES_COLUMNS = [
    # name, type, nullable, default
    ("id", "uuid", "NO", "gen_random_uuid()"),
    ("customer_id", "uuid", "YES", None),
    ("grams", "numeric(12,2)", "NO", None),
    ("material", "text", "NO", None),
    ("quality", "text", "NO", None),
    ("quantity", "integer", "NO", None),
    ("delivery_speed", "text", "NO", None),
    ("breakdown", "jsonb", "NO", None),
    ("total", "numeric(12,2)", "NO", None),
    ("currency", "text", "NO", "'CAD'::text"),
    ("status", "text", "NO", "'active'::text"),
    ("expires_at", "timestamp with time zone", "NO", None),
    ("created_at", "timestamp with time zone", "NO", "now()"),
]


@pytest.fixture
def migrated_db(shim_db: str) -> str:
    for m in migrations():
        apply_file(shim_db, m.path)
    return shim_db


def test_quotes_table_matches_the_edge_function_contract(migrated_db: str) -> None:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        columns = conn.execute(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END,
                   pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = 'public.quotes'::regclass AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """
        ).fetchall()
        assert columns == QUOTES_COLUMNS

        fk = conn.execute(
            """
            SELECT confrelid::regclass::text, confdeltype
            FROM pg_constraint
            WHERE conrelid = 'public.quotes'::regclass AND contype = 'f'
            """
        ).fetchall()
        assert fk == [("auth.users", "c")]  # on delete cascade

        index = conn.execute(
            """
            SELECT pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = 'public.quotes'::regclass AND NOT i.indisprimary
            """
        ).fetchall()
        assert [row[0].split(" USING ")[1] for row in index] == [
            "btree (customer_id, created_at DESC)"
        ]

        # the edge function's insert: service role (or postgres), no customer
        insert = (
            "INSERT INTO public.quotes (customer_id, grams, material, quality, quantity,"
            " delivery_speed, breakdown, total, expires_at) VALUES (NULL, %s, 'PLA_STANDARD',"
            " 'standard', %s, 'standard', '{\"total\": 24}', %s, now() + interval '7 days')"
            " RETURNING currency, status"
        )
        with conn.transaction():
            assert conn.execute(insert, [100, 1, 24]).fetchone() == ("CAD", "active")
            conn.execute("SET LOCAL ROLE service_role")
            assert conn.execute(insert, [100, 1, 24]).fetchone() == ("CAD", "active")
            raise psycopg.Rollback()
        for grams, quantity, total in [(0, 1, 24), (100, 0, 24), (100, 1, -1)]:
            with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                conn.execute(insert, [grams, quantity, total])
