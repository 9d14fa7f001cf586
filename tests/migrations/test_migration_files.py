"""Discovering migrations and linting them (no database needed: history rows are data)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from workers.drivers.interfaces import AppliedMigration
from workers.repository.migration_files import NOOP_MARKER, discover, lint, pending
from workers.repository.sql_split import statements

RUNBOOK_NAMES = [
    "20260107_001_create_quotes_table.sql",
    "20260107_002_alter_print_requests.sql",
    "20260107_003_alter_point_transactions.sql",
    "20260107_004_alter_creator_models.sql",
    "20260107_005_create_quality_points_function.sql",
    "20260107_006_add_rls_policies.sql",
    "20260107_007_enable_leaked_password_protection.sql",
]


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def migration(root: Path, name: str, sql: str, rollback: str | None = "SELECT 1;") -> None:
    files = {f"migrations/{name}": sql}
    if rollback is not None:
        files[f"migrations/rollback/{name}"] = rollback
    write(root, files)


def applied_as_written(root: Path, name: str) -> AppliedMigration:
    """The history row the Supabase CLI would have written for a file."""
    version, _, rest = name.partition("_")
    text = (root / "migrations" / name).read_text()
    return AppliedMigration(version, rest.removesuffix(".sql"),
                            [s.source for s in statements(text)])


def test_discovery_reads_names_versions_and_rollbacks(tmp_path: Path) -> None:
    migration(tmp_path, "20260107000002_b.sql", "SELECT 2;", "DROP TABLE b;")
    migration(tmp_path, "20260107000001_a.sql", "SELECT 1;", f"{NOOP_MARKER}\n")
    migration(tmp_path, "9_early.sql", "SELECT 0;", None)
    write(tmp_path, {"migrations/README.md": "not a migration",
                     "migrations/archive/20250101000000_old.sql": "SELECT 1;"})
    found = discover(tmp_path, "migrations", "migrations/rollback")
    assert [(m.version, m.name) for m in found] == [
        ("9", "early"), ("20260107000001", "a"), ("20260107000002", "b")]
    early, a, b = found
    assert early.rollback_sql is None and early.rollback_path is None
    assert a.rollback_noop and a.rollback_relpath == "migrations/rollback/20260107000001_a.sql"
    assert b.relpath == "migrations/20260107000002_b.sql"
    assert b.path == tmp_path / "migrations/20260107000002_b.sql"
    assert b.rollback_sql == "DROP TABLE b;" and not b.rollback_noop
    assert found.problems == []


def test_the_runbooks_original_names_are_rejected_with_the_supabase_explanation(
        tmp_path: Path) -> None:
    for name in RUNBOOK_NAMES:
        migration(tmp_path, name, "SELECT 1;")
    found = discover(tmp_path)
    assert {m.version for m in found} == {"20260107"}
    problems = [p for p in lint(found, []) if "duplicate" in p.message]
    # Every file after the first collides with it.
    assert sorted(p.path for p in problems) == sorted(f"migrations/{n}" for n in RUNBOOK_NAMES[1:])
    message = problems[0].message
    assert not problems[0].warning
    assert "Supabase CLI takes the leading digits" in message
    assert "version 20260107" in message
    assert "primary key of supabase_migrations.schema_migrations" in message
    assert "20260107_001_create_quotes_table.sql → 20260107000001_create_quotes_table.sql" \
        in message
    assert "20260107_002_alter_print_requests.sql → 20260107000002_alter_print_requests.sql" \
        in message


def test_bad_names_are_reported_not_skipped(tmp_path: Path) -> None:
    for name in ["create_quotes.sql", "V1__init.sql", "2026-01-07_x.sql", "20260107.sql",
                 "20260107000001_a.SQL"]:
        write(tmp_path, {f"migrations/{name}": "SELECT 1;"})
    write(tmp_path, {"migrations/notes.txt": "x"})
    found = discover(tmp_path)
    assert list(found) == []
    problems = lint(found, [])
    assert sorted(p.path for p in problems) == sorted(
        f"migrations/{n}" for n in ["create_quotes.sql", "V1__init.sql", "2026-01-07_x.sql",
                                    "20260107.sql", "20260107000001_a.SQL"])
    for p in problems:
        assert "skip it" in p.message and "rename it like" in p.message and not p.warning


def test_a_pending_migration_needs_a_rollback(tmp_path: Path) -> None:
    migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);", None)
    migration(tmp_path, "20260107000002_b.sql", "CREATE TABLE b (id int);", "-- todo\n")
    migration(tmp_path, "20260107000003_c.sql", "SELECT 1;", f"-- why\n{NOOP_MARKER}\n")
    migration(tmp_path, "20260107000004_d.sql", "CREATE TABLE d (id int);",
              f"{NOOP_MARKER}\nDROP TABLE d;")
    problems = lint(discover(tmp_path), [])
    by_path = {p.path: p for p in problems}
    missing = by_path["migrations/20260107000001_a.sql"]
    assert "has no rollback" in missing.message
    assert "migrations/rollback/20260107000001_a.sql" in missing.message
    assert NOOP_MARKER in missing.message
    empty = by_path["migrations/rollback/20260107000002_b.sql"]
    assert "empty rollback without the no-op marker" in empty.message and not empty.warning
    assert "migrations/rollback/20260107000003_c.sql" not in by_path
    both = by_path["migrations/rollback/20260107000004_d.sql"]
    assert both.warning and "remove the marker" in both.message
    assert len(problems) == 3


def test_an_applied_migration_without_rollback_is_fine(tmp_path: Path) -> None:
    migration(tmp_path, "20260107000001_a.sql", "CREATE TABLE a (id int);", None)
    applied = [applied_as_written(tmp_path, "20260107000001_a.sql")]
    assert lint(discover(tmp_path), applied) == []


def test_a_changed_applied_file_is_reported_at_the_changed_statement(tmp_path: Path) -> None:
    name = "20260107000001_a.sql"
    migration(tmp_path, name, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")
    applied = [applied_as_written(tmp_path, name)]
    migration(tmp_path, name, "CREATE TABLE a (id int);\n\nCREATE TABLE b (id bigint);\n")
    problems = lint(discover(tmp_path), applied)
    assert len(problems) == 1
    p = problems[0]
    assert (p.path, p.line) == (f"migrations/{name}", 3)
    assert "changed after it was applied" in p.message and "new migration" in p.message


def test_whitespace_comments_and_semicolons_do_not_count_as_changes(tmp_path: Path) -> None:
    name = "20260107000001_a.sql"
    migration(tmp_path, name, "-- about a\nCREATE TABLE a (id int);\n-- the end\n")
    # What the Supabase CLI stores for that file: comments kept, a comment-only tail as
    # a statement of its own, no trailing semicolons.
    cli_row = AppliedMigration("20260107000001", "a",
                               ["-- about a\nCREATE TABLE a (id int)", "-- the end"])
    assert lint(discover(tmp_path), [cli_row]) == []
    migration(tmp_path, name, "CREATE   TABLE a\n  (id int)\n")
    assert lint(discover(tmp_path), [cli_row]) == []
    # A row made by `supabase migration repair` has no statements: nothing to compare.
    migration(tmp_path, name, "CREATE TABLE z (id int);")
    assert lint(discover(tmp_path), [AppliedMigration("20260107000001", "a", [])]) == []


def test_applied_versions_missing_from_the_repository(tmp_path: Path) -> None:
    migration(tmp_path, "20260107000001_a.sql", "SELECT 1;")
    applied = [applied_as_written(tmp_path, "20260107000001_a.sql"),
               AppliedMigration("20260107000009", "later", ["SELECT 9"])]
    problems = lint(discover(tmp_path), applied)
    assert len(problems) == 1
    assert problems[0].path == "migrations"
    assert "20260107000009_later.sql is recorded as applied" in problems[0].message
    assert "ahead of the repository" in problems[0].message


def test_pending_is_in_version_order_and_out_of_order_files_warn(tmp_path: Path) -> None:
    for name in ["20260107000003_c.sql", "20260107000001_a.sql", "20260107000002_b.sql",
                 "20260107000004_d.sql"]:
        migration(tmp_path, name, "SELECT 1;")
    found = discover(tmp_path)
    applied = [applied_as_written(tmp_path, n)
               for n in ["20260107000001_a.sql", "20260107000003_c.sql"]]
    assert [m.version for m in pending(found, applied)] == ["20260107000002",
                                                            "20260107000004"]
    problems = lint(found, applied)
    assert [(p.path, p.warning) for p in problems] == [("migrations/20260107000002_b.sql", True)]
    assert "--include-all" in problems[0].message


def test_statements_that_cannot_run_in_the_files_transaction(tmp_path: Path) -> None:
    migration(tmp_path, "20260107000001_a.sql",
              "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE a (id int);\nCOMMIT;\n"
              "CREATE INDEX CONCURRENTLY a_id ON a (id);\n"
              "SAVEPOINT s; ROLLBACK TO SAVEPOINT s;\nROLLBACK;\n")
    problems = lint(discover(tmp_path), [])
    assert [(p.line, p.warning) for p in problems] == [
        (1, True), (3, True), (4, True), (6, False)]
    # Run apart, outside a transaction: the deployment falls back to committing each file.
    assert "cannot run inside a transaction block" in problems[2].message
    assert "falls back to committing each file" in problems[2].message
    assert "would abort the transaction" in problems[3].message


def test_orphan_rollbacks_and_unterminated_files(tmp_path: Path) -> None:
    migration(tmp_path, "20260107000001_a.sql", "SELECT 1;\nSELECT 'open")
    write(tmp_path, {"migrations/rollback/20260107000099_gone.sql": "SELECT 1;"})
    problems = lint(discover(tmp_path), [])
    assert [(p.path, p.warning) for p in problems] == [
        ("migrations/rollback/20260107000099_gone.sql", True),
        ("migrations/20260107000001_a.sql", False),
    ]
    assert "unterminated string" in problems[1].message and problems[1].line == 2
    assert discover(tmp_path)[0].sql.splitlines()[1] == "SELECT 'open"


def test_the_repositorys_migrations_lint_clean() -> None:
    found = discover(REPO)
    assert len(found) >= 8
    assert lint(found, []) == []


def test_what_reaches_beyond_the_database_is_still_refused(tmp_path: Path) -> None:
    """Index builds run apart; ALTER SYSTEM or CREATE DATABASE would change what neither a
    rollback script's transaction nor the backup of the database can put back."""
    migration(tmp_path, "20260107000001_a.sql",
              "ALTER SYSTEM SET work_mem = '64MB';\nCREATE DATABASE other;\n"
              "VACUUM quotes;\n")
    problems = lint(discover(tmp_path), [])
    assert [(p.line, p.warning) for p in problems] == [(1, False), (2, False), (3, True)]
    assert "reaches beyond the project's database" in problems[0].message
