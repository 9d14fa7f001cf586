"""A smoke check that created data and then failed its expectation: the undo removes that
data too, so staging ends exactly as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fixture_repo import branch_with
from workers.cli import main
from workers.runbook.snapshot import diff, snapshot


def test_data_made_by_a_failing_smoke_check_is_removed(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(env["repo"])
    assert main(["deploy", "staging"]) == 0
    before = asyncio.run(snapshot(env["staging"]))
    smoke = (repo / "tests/backend/smoke.yml").read_text()
    assert "total: 24.00\n      json_types" in smoke
    sha = branch_with(repo, "wrong-expectation", {
        # the quote is stored (200) but the check expects another total
        "tests/backend/smoke.yml": smoke.replace("total: 24.00\n      json_types",
                                                 "total: 25.00\n      json_types", 1),
        "migrations/20260201000000_note.sql": "alter table public.quotes add column note text;\n",
        "migrations/rollback/20260201000000_note.sql":
            "alter table public.quotes drop column note;\n",
    })
    capsys.readouterr()
    assert main(["deploy", "staging", "--ref", sha]) == 1
    out = capsys.readouterr().out
    assert "quote calculation" in out and "got 24.00" in out
    assert diff(before, asyncio.run(snapshot(env["staging"])), sequences=False) == []
