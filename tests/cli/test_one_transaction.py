"""The exact undo that needs no script (issue "Supabase databases as they are", point 3):
the pending migrations and the pgTAP suite run in one transaction, committed only when the
tests pass. On our Supabase-style project (tests/cli/test_supabase_project.py), with a
migration that has no rollback script: a test failing on purpose leaves nothing committed
(checked in PostgreSQL itself, and by the fingerprint); passing tests commit; a file that
cannot run in a transaction falls back to committing each file."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.cli.test_supabase_project import (  # noqa: F401  (dbs: fixture)
    FAILING_TEST,
    dbs,
    deploy,
    last_step,
    state,
    supabase_project,
)
from tests.fixture_repo import branch_with
from workers.runbook.snapshot import diff

# No rollback script: staging accepts the verified backup as the undo (the default).
TAGS = {"supabase/migrations/20260302000000_tags.sql":
        "alter table public.notes add column tags text[];\n"}
CONCURRENT = {"supabase/migrations/20260302000000_index.sql":
              "create index concurrently notes_body on public.notes (body);\n"}


def history(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "select version from supabase_migrations.schema_migrations order by version")]


def has(url: str, query: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return bool(row and row[0])


TAGS_COLUMN = ("select exists (select from information_schema.columns where table_schema = "
               "'public' and table_name = 'notes' and column_name = 'tags')")
INDEX = "select to_regclass('public.notes_body') is not null"


@pytest.fixture
def repo(dbs: dict[str, str], tmp_path: Path,  # noqa: F811
         monkeypatch: pytest.MonkeyPatch) -> Path:
    root = supabase_project(tmp_path / "repo")
    monkeypatch.chdir(root)
    assert deploy() == 0  # main: the notes table
    return root


def test_a_failing_test_leaves_nothing_committed_without_a_rollback_script(
        dbs: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
        ) -> None:
    before = state(dbs["staging"])
    sha = branch_with(repo, "failing", {**TAGS, "supabase/tests/zz_failing_test.sql":
                                        FAILING_TEST})
    capsys.readouterr()
    assert deploy("staging", "--ref", sha) == 1
    out = " ".join(capsys.readouterr().out.split())
    # What the check run and the dashboard show for the step.
    status, message, output = last_step(dbs["bot"], "migrate")
    assert status == "failed"
    assert message.startswith("tests failed: supabase/tests/zz_failing_test.sql:6: not ok 2 "
                              "- fails on purpose")
    assert message.endswith("; the transaction was rolled back: nothing was committed")
    assert ("The migrations and the tests ran in one transaction, which was rolled back: "
            "nothing was committed (checked: none of the 1 version(s) is in "
            "supabase_migrations.schema_migrations).") in output
    assert last_step(dbs["bot"], "verify")[0] == "skipped"
    assert ("applying 1 migration(s) and running the pgTAP tests (2 file(s)) in one "
            "transaction, committed only if all pass") in out
    assert "applied supabase/migrations/20260302000000_tags.sql in " in out
    assert "(not committed)" in out
    # The undo needed neither a rollback script nor the backup...
    assert "nothing to undo: this deployment committed no migration" in out
    assert "restored the backup" not in out
    # ...and the fingerprint says so, as does the end of the run.
    assert "the environment is as it was before the deployment: the fingerprint matches" in out
    assert "rolled back: the environment is as it was before" in out
    # PostgreSQL itself: no history row, no column.
    assert history(dbs["staging"]) == ["20260301000000"]
    assert not has(dbs["staging"], TAGS_COLUMN)
    assert diff(before, state(dbs["staging"]), sequences=False) == []


def test_passing_tests_commit_the_migrations_with_them(
        dbs: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
        ) -> None:
    sha = branch_with(repo, "tags", TAGS)
    capsys.readouterr()
    assert deploy("staging", "--ref", sha) == 0
    status, _, output = last_step(dbs["bot"], "migrate")
    assert status == "succeeded"
    assert "committed 1 migration(s) in one transaction after 2/2 tests passed" in output
    status, message, _ = last_step(dbs["bot"], "verify")
    assert status == "succeeded"  # what production's checklist asks of staging
    assert message.startswith("2/2 tests passed in 1 file(s)")
    assert "inside the transaction that applied the migrations, before it committed" in message
    assert history(dbs["staging"]) == ["20260301000000", "20260302000000"]
    assert has(dbs["staging"], TAGS_COLUMN)


def test_a_file_that_cannot_run_in_a_transaction_falls_back_to_committing_each_file(
        dbs: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
        ) -> None:
    before = state(dbs["staging"])
    sha = branch_with(repo, "concurrently", {**CONCURRENT, "supabase/tests/zz_failing_test.sql":
                                             FAILING_TEST})
    capsys.readouterr()
    assert deploy("staging", "--ref", sha) == 1
    out = " ".join(capsys.readouterr().out.split())
    # The lint names it, before anything changes.
    _, _, preflight = last_step(dbs["bot"], "preflight")
    assert ("supabase/migrations/20260302000000_index.sql:1: `create index concurrently "
            "notes_body` cannot run inside a transaction block") in " ".join(preflight.split())
    status, _, output = last_step(dbs["bot"], "migrate")
    output = " ".join(output.split())
    assert status == "succeeded"  # committed, on its own
    assert ("not one transaction: supabase/migrations/20260302000000_index.sql:1 (`create "
            "index concurrently notes_body`) cannot run inside a transaction block; falling "
            "back to committing each file") in output
    assert "committed only if all pass" not in output
    # The tests ran after the commit, failed, and the undo had to restore the backup.
    status, message, _ = last_step(dbs["bot"], "verify")
    assert status == "failed" and "fails on purpose" in message
    assert "it has no rollback script; restoring the backup" in out
    assert "the environment is as it was before the deployment: the fingerprint matches" in out
    assert history(dbs["staging"]) == ["20260301000000"]
    assert not has(dbs["staging"], INDEX)
    assert diff(before, state(dbs["staging"]), sequences=False) == []

    # And when the tests pass it deploys: the index is built outside a transaction.
    sha = branch_with(repo, "concurrently-ok", CONCURRENT)
    assert deploy("staging", "--ref", sha) == 0
    assert history(dbs["staging"]) == ["20260301000000", "20260302000000"]
    assert has(dbs["staging"], INDEX)
    assert last_step(dbs["bot"], "verify")[1].startswith("2/2 tests passed")


def test_a_test_that_commits_the_transaction_is_undone_from_the_backup(
        dbs: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with a splitter that takes a test file for one statement, the
    file's COMMIT reaches the server and commits the migration before the tests passed.
    The run sees it ended the transaction, says part of it may be committed, and the undo
    restores the verified backup instead of claiming nothing was committed."""
    import workers.runbook.pgtap as pgtap
    from tests.security.test_migration_transactions import _one_statement

    before = state(dbs["staging"])
    sha = branch_with(repo, "committing-test", {**TAGS, "supabase/tests/zz_commit_test.sql":
                                                "select 1;\ncommit;\nselect 2;\n"})
    monkeypatch.setattr(pgtap, "split", _one_statement)
    capsys.readouterr()
    assert deploy("staging", "--ref", sha) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert last_step(dbs["bot"], "migrate")[0] == "failed"
    assert ("supabase/tests/zz_commit_test.sql: a statement ended the transaction holding "
            "the migrations (the server ran "
            "COMMIT deploybot did not see as a statement of its own): part of it may be "
            "committed; the rollback restores the verified backup") in out
    assert "nothing was committed" not in out
    assert "restored the backup" in out
    assert "the environment is as it was before the deployment: the fingerprint matches" in out
    assert history(dbs["staging"]) == ["20260301000000"]
    assert not has(dbs["staging"], TAGS_COLUMN)
    assert diff(before, state(dbs["staging"]), sequences=False) == []
