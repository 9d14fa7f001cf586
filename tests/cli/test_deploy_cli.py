"""`deploybot deploy` end to end on real PostgreSQL: the runbook example passes, a second
deploy is up to date, and a failure at any step leaves the environment exactly as before."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import psycopg
import pytest

from tests.fixture_repo import branch_with
from workers.cli import main
from workers.runbook.snapshot import EnvironmentSnapshot, diff, snapshot

BROKEN_MIGRATION = """\
-- adds a column, then fails on line 4
alter table public.quotes add column note text;

select no_such_function();
"""




def state(url: str) -> EnvironmentSnapshot:
    return asyncio.run(snapshot(url))


def deploy(*args: str) -> int:
    return main(["deploy", "staging", *args])


def test_runbook_example_deploys_and_redeploy_is_up_to_date(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy() == 0
    out = capsys.readouterr().out
    assert "deployed" in out and "smoke" in out
    with psycopg.connect(env["staging"]) as conn:
        total = conn.execute("select total from public.quotes").fetchall()
        history = conn.execute(
            "select count(*) from supabase_migrations.schema_migrations").fetchone()
    assert [str(t[0]) for t in total] == ["24.00"]  # the smoke test's quote, stored
    assert history == (8,)
    assert deploy() == 0
    out = capsys.readouterr().out
    assert "already up to date" in out
    assert "not a deployment: deploybot history --kind noop lists it" in out
    # the redeploy changed nothing: recorded, but the history lists the one deployment
    assert main(["history", "--env", "staging", "--json"]) == 0
    statuses = [d["status"] for d in json.loads(capsys.readouterr().out)]
    assert statuses == ["succeeded"]
    assert main(["history", "--env", "staging", "--kind", "all", "--json"]) == 0
    records = [(d["record_kind"], d["status"]) for d in json.loads(capsys.readouterr().out)]
    assert records == [("noop", "up_to_date"), ("deploy", "succeeded")]


FAILURES = {
    # step: files that make exactly that step fail
    # (a missing rollback script no longer fails staging: its undo is the backup)
    "preflight": {"migrations/20260201000000_unterminated.sql": "select 'oops;\n",
                  "migrations/rollback/20260201000000_unterminated.sql":
                      "-- deploybot:rollback no-op\n"},
    "migrate": {"migrations/20260201000000_broken.sql": BROKEN_MIGRATION,
                "migrations/rollback/20260201000000_broken.sql":
                    "alter table public.quotes drop column if exists note;\n"},
    "functions": {"functions/calculate-quote/index.ts": None},  # filled below: cannot start
    "verify": {
        "migrations/20260201000000_open_quotes.sql":
            "create policy quotes_all on public.quotes for select to authenticated "
            "using (true);\n",  # every customer would see every quote
        "migrations/rollback/20260201000000_open_quotes.sql":
            "drop policy if exists quotes_all on public.quotes;\n"},
    "smoke": {"tests/backend/smoke.yml": None},  # filled below: a check that fails first
}
# The RLS suite runs inside the migrations' transaction: its failure stops `migrate`.
FAILS_AT = {step: step for step in FAILURES} | {"verify": "migrate"}


def _failing_start(repo: Path) -> dict[str, str]:
    """calculate-quote type-checks and passes its tests, but throws when it starts."""
    text = (repo / "functions/calculate-quote/index.ts").read_text()
    anchor = "if (import.meta.main) {\n"
    assert anchor in text
    return {"functions/calculate-quote/index.ts": text.replace(
        anchor, anchor + '  throw new Error("boom: a setting is missing");\n', 1)}


def _failing_smoke_check(repo: Path) -> dict[str, str]:
    """A first smoke check that fails before any check stores a row, and a changed function
    (so there is a release to deploy). Not a wrong price: the functions' unit tests catch
    that at preflight."""
    smoke = (repo / "tests/backend/smoke.yml").read_text()
    readme = (repo / "functions/calculate-quote/README.md").read_text()
    assert "\nchecks:\n" in smoke
    return {"tests/backend/smoke.yml": smoke.replace("\nchecks:\n", """
checks:
  - name: quotes are answered to GET (they are not: 405)
    http: {method: GET, path: /functions/v1/calculate-quote}
    expect: {status: 200}
""", 1), "functions/calculate-quote/README.md": readme + "\nA changed line.\n"}


@pytest.mark.parametrize("step", list(FAILURES))
def test_a_failure_at_each_step_leaves_staging_exactly_as_before(
        step: str, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy() == 0
    before = state(env["staging"])
    files = dict(FAILURES[step])
    if step == "smoke":
        files = _failing_smoke_check(Path(env["repo"]))
    if step == "functions":
        files = _failing_start(Path(env["repo"]))
    sha = branch_with(Path(env["repo"]), f"break-{step}", files)  # type: ignore[arg-type]
    capsys.readouterr()
    code = deploy("--ref", sha)
    out = capsys.readouterr().out
    assert code == 1, out
    # that step, not an earlier one
    assert re.search(rf"│ {FAILS_AT[step]}\s*│ [✗↺] failed", out), out
    after = state(env["staging"])
    assert diff(before, after, sequences=False) == [], out


def test_a_rollback_that_fails_needs_a_person(
        env: dict[str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Path(env["repo"])
    (repo / ".github" / "deploybot.yml").write_text(
        "environments:\n  staging:\n    database_url_env: STAGING_DATABASE_URL\n"
        "    anon_key_env: STAGING_ANON_KEY\n    backup: false\n")
    from tests.fixture_repo import commit

    commit(repo, "no backups")
    assert deploy() == 0
    # committed (the tests pass), then the functions fail: the rollback script must run
    sha = branch_with(repo, "bad-rollback", {
        "migrations/20260201000000_note.sql": "alter table public.quotes add column note text;\n",
        "migrations/rollback/20260201000000_note.sql": "drop table no_such_table;\n",
        **_failing_start(repo),
    })
    capsys.readouterr()
    assert deploy("--ref", sha) == 3
    out = capsys.readouterr().out
    assert "a person is needed" in out


def test_usage_errors_exit_2(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "prod"]) == 2
    assert "unknown environment 'prod'" in capsys.readouterr().err
    assert main(["deploy", "staging", "--ref", "no-such-branch"]) == 2
    assert "is not a commit" in capsys.readouterr().err
    repo = Path(env["repo"])
    (repo / ".github" / "deploybot.yml").write_text("environments: [staging]\n")
    from tests.fixture_repo import commit

    commit(repo, "broken config")
    assert main(["deploy", "staging"]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and "environments" in err
