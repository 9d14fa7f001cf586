"""Issue 13, item 3: migrations without rollback scripts deploy on staging, and undo stays
exact — checked, not claimed. Preflight takes a fingerprint (schema, migration history, row
counts of the tables the deployment names, active function release); after every undo the
environment is compared with it, and "as it was before" is said only when they match."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.config.load import parse_config
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, cli_project
from tests.migrations.helpers import make_migration
from workers.cli import main
from workers.drivers.database import PostgresDatabase
from workers.repository.migration_files import discover, lint
from workers.runbook import fingerprint
from workers.runbook.snapshot import EnvironmentSnapshot, diff, snapshot

# A Supabase project as it lives on GitHub: migrations, no rollback scripts.
NOTES = {
    "migrations/20260201000000_create_notes.sql":
        "create table public.notes (id bigint generated always as identity primary key,\n"
        "  quote_id uuid references public.quotes (id), body text not null);\n"
        "alter table public.notes enable row level security;\n",
    "migrations/20260201000001_seed_notes.sql":
        "insert into public.notes (body) values ('welcome');\n",
}


def _wrong_expectation(repo: Path) -> str:
    """The smoke file expecting another price than the (unchanged, unit-tested) function's."""
    text = (repo / "tests/backend/smoke.yml").read_text()
    assert "total: 24.00" in text
    return text.replace("total: 24.00", "total: 25.00", 1)


# Type-checks and has no tests to fail (preflight passes), but throws when the host loads it.
BROKEN_FUNCTION = ("if (Date.now() > 0) throw new Error('boom');\n"
                   "Deno.serve(() => new Response('never'));\n")

FAILURES = {
    "migrate": {"migrations/20260201000002_broken.sql": "select no_such_function();\n"},
    # A function the host cannot load (no unit test imports it: preflight passes).
    "functions": {"functions/broken/index.ts": BROKEN_FUNCTION},
    "verify": {"migrations/20260201000002_open_quotes.sql":
               "create policy quotes_all on public.quotes for select to authenticated "
               "using (true);\n"},
    "smoke": {},  # a wrong expectation, below
}
# Where each failure stops the run: the RLS suite runs inside the migrations' transaction,
# so a failing test stops `migrate` before anything commits; later steps fail after it.
FAILS_AT = {"migrate": "migrate", "functions": "functions", "verify": "migrate",
            "smoke": "smoke"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    repo = cli_project(tmp_path, monkeypatch, bot=bot, staging=staging)
    try:
        assert main(["deploy", "staging"]) == 0
        yield {"staging": staging, "repo": str(repo)}
    finally:
        for n in names:
            drop_database(n)


def _state(url: str) -> EnvironmentSnapshot:
    return asyncio.run(snapshot(url))


def test_pending_migrations_without_rollback_scripts_deploy_on_staging(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    sha = branch_with(Path(env["repo"]), "notes", NOTES)
    capsys.readouterr()
    assert main(["deploy", "staging", "--ref", sha]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "has no rollback script: if the deployment fails, its undo restores the " \
           "verified backup" in out
    with psycopg.connect(env["staging"]) as conn:
        assert conn.execute("select body from public.notes").fetchall() == [("welcome",)]


@pytest.mark.parametrize("step", list(FAILURES))
def test_a_failure_at_each_step_without_rollback_scripts_leaves_the_fingerprint(
        step: str, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(env["repo"])
    before = _state(env["staging"])
    files = {**NOTES, **FAILURES[step]}
    if step == "smoke":
        files["tests/backend/smoke.yml"] = _wrong_expectation(repo)
    sha = branch_with(repo, f"break-{step}", files)
    capsys.readouterr()
    assert main(["deploy", "staging", "--ref", sha]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "✗ " in out and FAILS_AT[step] in out
    if FAILS_AT[step] == "migrate":  # nothing committed: no script, no backup needed
        assert "the transaction was rolled back: nothing was committed" in out
        assert "restored the backup" not in out
    else:
        assert "restored the backup" in out
    assert "the environment is as it was before the deployment: the fingerprint matches" in out
    assert diff(before, _state(env["staging"]), sequences=False) == []


def test_an_undo_that_is_not_exact_is_caught_and_not_called_as_before(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The rollback script "undoes" the new table by forgetting it: the fingerprint sees the
    table still there, the rollback counts as failed (exit 3, a person is needed), and
    nothing says "as it was before"."""
    sha = branch_with(Path(env["repo"]), "leaky", {
        # (row level security on: the RLS suite, run before the commit, passes)
        "migrations/20260201000000_leftover.sql": "create table public.leftover (id int);\n"
                                                  "alter table public.leftover enable row "
                                                  "level security;\n",
        "migrations/rollback/20260201000000_leftover.sql": "select 1; -- forgets the table\n",
        "functions/broken/index.ts": BROKEN_FUNCTION,
    })
    capsys.readouterr()
    assert main(["deploy", "staging", "--ref", sha]) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "the environment is NOT as it was before the deployment — schema: " in out
    assert "leftover; Type: TABLE; Schema: public (only after)" in out
    assert "as it was before the deployment: the fingerprint matches" not in out
    assert "rolled back: the environment is as it was before" not in out


def test_production_still_requires_rollback_scripts_unless_configured(tmp_path: Path) -> None:
    make_migration(tmp_path, "20260201000000_notes.sql", "create table notes (id int);\n")
    found = discover(tmp_path)
    config = parse_config(
        "environments:\n  staging:\n    database_url_env: S\n"
        "  production:\n    production: true\n    database_url_env: P\n"
        "  prod2:\n    production: true\n    database_url_env: Q\n"
        "    rollback_scripts: backup\n")
    for name, blocks in (("staging", False), ("production", True), ("prod2", False)):
        env = config.environments[name]
        problems = lint(found, [], require_rollbacks=env.requires_rollback_scripts)
        assert [p.warning for p in problems] == [not blocks], (name, problems)
        assert "has no rollback" in problems[0].message


async def test_the_fingerprint_names_each_part_that_differs(shim_db: str, tmp_path: Path
                                                            ) -> None:
    from workers.drivers.functions import PostgresFunctionReleases

    async with PostgresDatabase(shim_db) as db:
        await db.execute("create table public.t (id int); insert into public.t values (1);")
        releases = PostgresFunctionReleases(shim_db)
        before = await fingerprint.take(db, releases, sql_texts=["insert into t values (2)"])
        assert before.row_counts == {"public.t": 1}
        await db.execute("insert into public.t values (2); create table public.u (id int);")
        migration = make_migration(tmp_path, "20260201000000_x.sql", "select 1;\n")
        await db.apply_migration(migration, lock_timeout_ms=2000)
        after = await fingerprint.take(db, releases, tables=before.row_counts)
    found = fingerprint.differences(before, after)
    assert [d.split(":", 1)[0] for d in found] == [
        "schema", "migration history", "rows of public.t"]
    assert "u; Type: TABLE; Schema: public (only after)" in found[0]
    assert found[1] == "migration history: 20260201000000 recorded"
    assert found[2] == "rows of public.t: 1 row before, 2 rows after"
    assert fingerprint.differences(before, fingerprint.Fingerprint.from_json(
        before.to_json())) == []


async def test_a_changed_role_setting_is_never_as_before(fresh_db: str) -> None:
    """`ALTER ROLE … SET` (PostgREST's pre-request hook, say) is not undone by any script or
    backup: the fingerprint sees it, so the undo does not claim "as it was before"."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from tests.conftest import admin_url_of
    from workers.drivers.functions import PostgresFunctionReleases

    name = str(conninfo_to_dict(fresh_db)["dbname"])
    role = f"fp_{name[-12:]}"
    with psycopg.connect(admin_url_of(fresh_db), autocommit=True) as admin:
        admin.execute(f"create role {role}")
        try:
            async with PostgresDatabase(fresh_db) as db:
                releases = PostgresFunctionReleases(fresh_db)
                before = await fingerprint.take(db, releases)
                admin.execute(f"alter role {role} in database {name} "
                              "set statement_timeout = '5s'")
                after = await fingerprint.take(db, releases, tables=before.row_counts)
        finally:
            admin.execute(f"drop role {role}")
    assert fingerprint.differences(before, after) == [
        f"role settings: {role} in this database: statement_timeout=5s (only after)"]
