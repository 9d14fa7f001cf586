"""`deploybot rollback` shows what it will undo and asks first (or takes --yes); undoing the
environment's first deployment needs --allow-empty; `status` then tells the truth."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.fixture_repo import commit
from workers.cli import main

NOTE = {"migrations/20260201000000_note.sql": "alter table public.quotes add column note text;\n",
        "migrations/rollback/20260201000000_note.sql":
            "alter table public.quotes drop column note;\n"}




def applied(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from supabase_migrations.schema_migrations"
                           ).fetchone()
    return int(row[0]) if row else 0


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", "staging", "--json"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_rollback_previews_and_asks_before_changing_anything(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(env["repo"])
    assert main(["deploy", "staging"]) == 0
    first = status(capsys)["running_commit"]
    for rel, text in NOTE.items():
        (repo / rel).write_text(text)
    second = commit(repo, "note column")
    assert main(["deploy", "staging"]) == 0
    capsys.readouterr()

    assert main(["rollback", "staging"]) == 2  # no terminal to ask, no --yes
    captured = capsys.readouterr()
    assert "20260201000000_note.sql" in captured.out
    assert f"afterwards staging runs #1 ({str(first)[:12]})" in captured.out
    assert "--yes" in captured.err
    assert applied(env["staging"]) == 9  # nothing changed

    assert main(["rollback", "staging", "--yes"]) == 0
    assert applied(env["staging"]) == 8
    now = status(capsys)
    assert now["running_commit"] == first and now["running_commit"] != second


def test_undoing_the_first_deployment_needs_allow_empty(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "staging"]) == 0
    assert main(["deploy", "staging"]) == 0  # up to date: a no-op after the first
    capsys.readouterr()
    assert main(["rollback", "staging", "--yes"]) == 2
    captured = capsys.readouterr()
    assert "first deployment" in captured.err and "--allow-empty" in captured.err
    assert "(empty)" in captured.out
    assert applied(env["staging"]) == 8

    assert main(["rollback", "staging", "--yes", "--allow-empty"]) == 0
    assert applied(env["staging"]) == 0
    # The no-op after it found what is now gone: nothing of ours runs there.
    assert status(capsys)["running_commit"] is None
