"""Supabase-style projects of our own (the CLI's `supabase/` layout, pgTAP tests) deployed
with `deploybot deploy` on real PostgreSQL, with nothing configured but the environments."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, commit, git
from workers.cli import main
from workers.runbook.snapshot import EnvironmentSnapshot, diff, snapshot

CONFIG = """\
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
  production:
    production: true
    database_url_env: PRODUCTION_DATABASE_URL
    requires_staging: staging
    squawk: block
"""

NOTES = """\
create table public.notes (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null references auth.users (id),
    body text not null
);
alter table public.notes enable row level security;
create policy notes_own on public.notes for all to authenticated
    using (owner_id = auth.uid()) with check (owner_id = auth.uid());
grant select, insert, update, delete on public.notes to authenticated;
"""

NOTES_TEST = """\
begin;
select plan(2);

select has_table('public', 'notes', 'notes exists');

insert into auth.users (id, email) values
    ('00000000-0000-0000-0000-00000000000a', 'a@example.invalid'),
    ('00000000-0000-0000-0000-00000000000b', 'b@example.invalid');
insert into public.notes (owner_id, body) values
    ('00000000-0000-0000-0000-00000000000a', 'mine'),
    ('00000000-0000-0000-0000-00000000000b', 'theirs');
select set_config('request.jwt.claims',
                  '{"sub": "00000000-0000-0000-0000-00000000000a", "role": "authenticated"}',
                  true);
set local role authenticated;
select results_eq('select body from public.notes', array['mine'],
                  'a user reads only their own notes');

select * from finish();
rollback;
"""

FAILING_TEST = """\
begin;
select plan(2);
select ok(true, 'this one holds');
select is((select count(*) from public.notes where body is null)::int,
          1,
          'fails on purpose: no note is without a body');
select * from finish();
rollback;
"""

SMOKE = """\
version: 1
checks:
  - name: notes table answers
    sql: select count(*) as n from public.notes
    expect: {rows: [{n: 0}]}
"""


def supabase_project(root: Path, *, tests: bool = True) -> Path:
    files = {
        ".github/deploybot.yml": CONFIG,
        "supabase/config.toml": 'project_id = "notes"\n',
        "supabase/seed.sql": "insert into public.notes (owner_id, body) "
                             "select id, 'seeded' from auth.users;\n",
        "supabase/migrations/20260301000000_notes.sql": NOTES,
        "supabase/migrations/rollback/20260301000000_notes.sql": "drop table public.notes;\n",
        "supabase/functions/.gitkeep": "",
    }
    if tests:
        files["supabase/tests/notes_test.sql"] = NOTES_TEST
        files["supabase/tests/smoke.yml"] = SMOKE
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    commit(root, "a supabase project")
    return root


@pytest.fixture
def dbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    names = [create_database("bot"), create_database("stg"), create_database("prd")]
    bot = database_url(names[0])
    staging, production = (prepare_environment(database_url(n)) for n in names[1:])
    for url in (staging, production):
        with psycopg.connect(url, autocommit=True) as conn:  # a user the seed would copy
            conn.execute("insert into auth.users (id, email) values (gen_random_uuid(), "
                         "'existing@example.invalid')")
    monkeypatch.setenv("DATABASE_URL", bot)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("PRODUCTION_DATABASE_URL", production)
    monkeypatch.setenv("DEPLOYBOT_DATA_DIR", str(tmp_path / "data"))
    try:
        yield {"bot": bot, "staging": staging, "production": production}
    finally:
        for n in names:
            drop_database(n)


def state(url: str) -> EnvironmentSnapshot:
    return asyncio.run(snapshot(url))


def notes(url: str) -> list[str] | None:
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('public.notes')").fetchone() == (None,):
            return None
        return [r[0] for r in conn.execute("select body from public.notes").fetchall()]


def last_step(bot: str, name: str) -> tuple[str, str, str]:
    """(status, message, output) of the step in the latest deployment: what the check run
    and the dashboard show (the console wraps long lines)."""
    with psycopg.connect(bot) as conn:
        row = conn.execute("select status, coalesce(message, ''), coalesce(output, '') "
                           "from ledger.deployment_steps where name = %s "
                           "order by deployment_id desc limit 1", (name,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def deploy(env: str = "staging", *args: str) -> int:
    return main(["deploy", env, *args])


def test_the_cli_layout_deploys_with_only_environments_configured(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(supabase_project(tmp_path / "repo"))
    assert deploy() == 0
    out = capsys.readouterr().out
    assert "2/2 tests passed in 1 file(s)" in out
    assert notes(dbs["staging"]) == []  # migrated; supabase/seed.sql is not run
    with psycopg.connect(dbs["staging"]) as conn:
        history = conn.execute("select version, name from "
                               "supabase_migrations.schema_migrations").fetchall()
    assert history == [("20260301000000", "notes")]


def test_a_failing_pgtap_test_fails_at_its_line_and_rolls_back(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = supabase_project(tmp_path / "repo")
    monkeypatch.chdir(repo)
    assert deploy() == 0
    before = state(dbs["staging"])
    sha = branch_with(repo, "failing-test", {
        "supabase/migrations/20260302000000_tags.sql":
            "alter table public.notes add column tags text[];\n",
        "supabase/migrations/rollback/20260302000000_tags.sql":
            "alter table public.notes drop column tags;\n",
        "supabase/tests/zz_failing_test.sql": FAILING_TEST,
    })
    capsys.readouterr()
    assert deploy("staging", "--ref", sha) == 1
    out = capsys.readouterr().out
    assert "rolled back" in out
    # the tests run in the migrations' transaction (tests/cli/test_one_transaction.py)
    status, message, output = last_step(dbs["bot"], "migrate")
    assert status == "failed"
    # the failing assertion, at the line of its description, with pgTAP's diagnostics
    assert "supabase/tests/zz_failing_test.sql:6: not ok 2 - fails on purpose" in message
    assert "have: 0" in output and "want: 1" in output
    assert diff(before, state(dbs["staging"]), sequences=False) == []


def test_a_project_without_tests_deploys_and_says_no_tests_ran(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(supabase_project(tmp_path / "repo", tests=False))
    assert deploy() == 0
    assert notes(dbs["staging"]) == []
    # what the check run and the dashboard show for the step
    with psycopg.connect(dbs["bot"]) as conn:
        verify = conn.execute("select status, message from ledger.deployment_steps "
                              "where name = 'verify'").fetchall()
    assert len(verify) == 1 and verify[0][0] == "skipped"
    assert verify[0][1].startswith("no tests ran: supabase/tests does not exist at ")


def test_squawk_warns_on_staging_and_blocks_production_where_configured(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = supabase_project(tmp_path / "repo")
    monkeypatch.chdir(repo)
    sha = branch_with(repo, "index", {
        "supabase/migrations/20260302000000_index.sql":
            "-- an index on a table that already exists\n"
            "create index notes_body on public.notes (body);\n",
        "supabase/migrations/rollback/20260302000000_index.sql":
            "drop index public.notes_body;\n",
    })
    assert deploy() == 0  # main: the table
    capsys.readouterr()
    assert deploy("staging", "--ref", sha) == 0
    status, _, output = last_step(dbs["bot"], "preflight")
    assert status == "succeeded"
    assert "squawk: 1 finding(s) (warnings)" in output
    assert ("supabase/migrations/20260302000000_index.sql:2: "
            "require-concurrent-index-creation") in output

    # production: every checklist item holds, and `squawk: block` stops it in preflight
    before = state(dbs["production"])
    assert main(["confirm", "production", "leaked-password-protection", "--by", "lead"]) == 0
    capsys.readouterr()
    code = deploy("production", "--ref", sha, "--force", "--reason", "squawk test")
    out = capsys.readouterr().out
    assert code == 1, out
    assert last_step(dbs["bot"], "gates")[0] == "succeeded"
    status, message, output = last_step(dbs["bot"], "preflight")
    assert status == "failed"
    assert "1 squawk finding(s) and `squawk: block` on production" in message
    assert "20260302000000_index.sql:2: require-concurrent-index-creation" in output
    assert last_step(dbs["bot"], "migrate")[0] == "skipped"  # never ran
    assert diff(before, state(dbs["production"]), sequences=False) == []


PINNED = "supabase/migrations/20260302000000_pinned.sql"
PINNED_SQL = """\
alter table public.notes add column pinned boolean not null default false;
alter default privileges revoke execute on functions from public;
"""


def _deploy_pinned_without_rollback_script(repo: Path) -> None:
    assert deploy() == 0
    (repo / PINNED).write_text(PINNED_SQL)
    commit(repo, "pinned notes, without a rollback script (as Supabase projects have)")
    assert deploy() == 0


def test_a_migration_without_a_rollback_script_is_undone_by_its_deployments_backup(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = supabase_project(tmp_path / "repo")
    monkeypatch.chdir(repo)
    assert deploy() == 0
    before = state(dbs["staging"])
    (repo / PINNED).write_text(PINNED_SQL)
    commit(repo, "pinned notes, without a rollback script (as Supabase projects have)")
    assert deploy() == 0
    assert diff(before, state(dbs["staging"]))
    with psycopg.connect(dbs["staging"], autocommit=True) as conn:  # written since
        conn.execute("insert into public.notes (owner_id, body) select id, 'later' "
                     "from auth.users")
    capsys.readouterr()

    assert main(["rollback", "staging", "--yes"]) == 0
    status, _, output = last_step(dbs["bot"], "rollback-check")
    assert status == "succeeded"
    assert f"as {PINNED} has no rollback script" in output
    assert "since then is lost (the backup this rollback takes first keeps it)" in output
    assert f"undid {PINNED}" in last_step(dbs["bot"], "revert")[2]
    assert diff(before, state(dbs["staging"])) == []


def test_where_rollback_scripts_are_required_the_backup_is_not_their_undo(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = supabase_project(tmp_path / "repo")
    monkeypatch.chdir(repo)
    _deploy_pinned_without_rollback_script(repo)
    (repo / ".github/deploybot.yml").write_text(CONFIG.replace(
        "STAGING_DATABASE_URL\n", "STAGING_DATABASE_URL\n    rollback_scripts: required\n"))
    commit(repo, "staging now requires rollback scripts")
    deployed = state(dbs["staging"])
    capsys.readouterr()

    assert main(["rollback", "staging", "--yes"]) == 1
    status, message, _ = last_step(dbs["bot"], "rollback-check")
    assert status == "failed"
    assert f"{PINNED}: no rollback script" in message
    assert "staging requires rollback scripts (rollback_scripts: required)" in message
    assert diff(deployed, state(dbs["staging"])) == []  # refused before changing anything


SEEDED_TEST = """\
begin;
select plan(1);
select is((select count(*) from public.notes where body = 'seeded')::int, 1,
          'the seed is there, as after supabase db reset');
select * from finish();
rollback;
"""


def test_a_test_seed_runs_inside_each_test_file_and_never_stays(
        dbs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = supabase_project(tmp_path / "repo")
    (repo / "supabase/tests/seeded_test.sql").write_text(SEEDED_TEST)
    commit(repo, "a test that needs the seed")
    monkeypatch.chdir(repo)
    assert deploy() == 1  # without the seed the data is not there
    # (the suite runs inside the migrations' transaction: the migrate step reports it)
    assert "seeded_test.sql:4: not ok 1" in last_step(dbs["bot"], "migrate")[1]

    (repo / ".github/deploybot.yml").write_text(
        CONFIG + "paths:\n  test_seed: supabase/seed.sql\n")
    commit(repo, "tests see supabase/seed.sql")
    assert deploy() == 0
    assert "3/3 tests passed in 2 file(s)" in capsys.readouterr().out
    assert notes(dbs["staging"]) == []  # the seed ran only in the rolled-back tests
