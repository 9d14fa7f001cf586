"""A CLI run stopped from outside ends in a true state: Ctrl-C or SIGTERM undoes what it had
begun and records `interrupted` (exit 130); a run whose process was killed outright is found
by the next `deploybot` command and recorded `interrupted`, never left `running`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import REPO
from tests.fixture_repo import branch_with
from workers.cli import main
from workers.runbook.snapshot import diff, snapshot

SLOW = {
    "migrations/20260201000000_note.sql": "alter table public.quotes add column note text;\n",
    "migrations/rollback/20260201000000_note.sql":
        "alter table public.quotes drop column note;\n",
    "migrations/20260201000001_slow.sql": "select pg_sleep(30);\n",
    "migrations/rollback/20260201000001_slow.sql": "select 1;\n",
}




def _start(repo: Path, sha: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "deploy", "staging", "--ref", sha],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_slow_file(env: dict[str, str]) -> None:
    """Until the first file has committed and the slow one runs."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with psycopg.connect(env["staging"]) as conn:
            busy = conn.execute("select count(*) from pg_stat_activity "
                                "where query like '%pg_sleep(30)%' and pid <> "
                                "pg_backend_pid()").fetchone()
        if busy and busy[0]:
            return
        time.sleep(0.2)
    raise AssertionError("the slow migration never started")


def _deployment(env: dict[str, str]) -> tuple[str, str]:
    with psycopg.connect(env["bot"]) as conn:
        row = conn.execute("select status, coalesce(reason, '') from ledger.deployments "
                           "order by id desc limit 1").fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_undoes_what_it_began_and_ends_interrupted(
        env: dict[str, str], sig: signal.Signals) -> None:
    assert main(["deploy", "staging"]) == 0
    before = asyncio.run(snapshot(env["staging"]))
    sha = branch_with(Path(env["repo"]), "slow", SLOW)
    proc = _start(Path(env["repo"]), sha)
    try:
        _wait_for_slow_file(env)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    status, reason = _deployment(env)
    assert status == "interrupted"
    assert "interrupted during `migrate`" in reason and "undone" in reason
    assert diff(before, asyncio.run(snapshot(env["staging"])), sequences=False) == []
    assert not any("deploybot:" in line and not line.startswith("deploybot:")
                   for line in out.splitlines()), out


def test_a_killed_run_is_ended_by_the_next_command(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "staging"]) == 0
    sha = branch_with(Path(env["repo"]), "slow", SLOW)
    proc = _start(Path(env["repo"]), sha)
    try:
        _wait_for_slow_file(env)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert _deployment(env)[0] == "running"  # nobody is left to say otherwise
    capsys.readouterr()
    assert main(["history"]) == 0
    status, reason = _deployment(env)
    assert status == "interrupted"
    assert "stopped before it finished" in reason
