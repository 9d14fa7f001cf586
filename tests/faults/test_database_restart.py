"""The environment's database restarts mid-migration: bounded retries, then a clean failure.

A real PostgreSQL server (the embedded one, started in a temporary directory) is stopped
with a fast shutdown while `deploybot deploy staging` sits in a migration's pg_sleep, after
an earlier migration of the same deployment was applied in the same transaction.

- Restarted at once: the deploy reconnects, sees in the history that the transaction did
  not commit, and exits 1 with staging exactly as before.
- Kept down: the deploy gives up after its bounded retries (no hang), exits 3 and the ledger
  says a person is needed (it cannot read the history to check the transaction); once the
  server is back `status` says why, and that nothing of the deployment was left behind.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from service.embedded import environment_database
from service.embedded.postgres import EmbeddedPostgres, free_port
from tests.conftest import create_database, database_url, drop_database
from tests.fixture_repo import branch_with, cli_project, commit
from workers.cli import main
from workers.runbook.snapshot import diff, snapshot

QUICK = "20260301000001_add_notes"
SLOW = "20260301000002_slow"
BRANCH = {
    f"migrations/{QUICK}.sql": "create table public.notes (id bigint primary key);\n"
                               "alter table public.notes enable row level security;\n",
    f"migrations/rollback/{QUICK}.sql": "drop table public.notes;\n",
    f"migrations/{SLOW}.sql": "select pg_sleep(60);\n",
    f"migrations/rollback/{SLOW}.sql": "select 1;\n",
}
JOIN_TIMEOUT = 180  # seconds; only a hang gets anywhere near it


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    # Not under tmp_path: as root the server runs as a service user, and every pytest
    # session that starts meanwhile resets /tmp/pytest-of-root to 0700, so pg_ctl could
    # no longer reach the data directory to stop or restart it.
    with tempfile.TemporaryDirectory(prefix="deploybot-restart-") as tmp:
        pg = EmbeddedPostgres(Path(tmp))
        pg.root.mkdir(parents=True)
        # Away from the default port, which other embedded servers try first: while ours
        # is down one of them must not take its port.
        pg.port_file.write_text(str(free_port(56500)))
        pg.ensure_running()  # initdb once for the module
        try:
            yield pg
        finally:
            pg.stop()


@pytest.fixture
def env(server: EmbeddedPostgres, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    server.ensure_running()
    bot_name, stg_name = create_database("bot"), f"stg_{uuid.uuid4().hex[:12]}"
    # staging in the embedded server, owned by its least-privilege role as the bot makes it
    staging = server.prepare_environment(stg_name)
    repo = cli_project(tmp_path, monkeypatch, bot=database_url(bot_name), staging=staging)
    try:
        yield {"bot": database_url(bot_name), "staging": staging, "repo": str(repo)}
    finally:
        server.ensure_running()
        environment_database.drop(server.url(), stg_name)
        drop_database(bot_name)


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(query.encode(), params or None).fetchone()


def _migrate_running(bot: str) -> bool:
    row = _one(bot, "select count(*) as n from ledger.deployment_steps "
                    "where name = 'migrate' and status = 'running'")
    return bool(row["n"] == 1)


def _sleeping(staging: str) -> bool:
    row = _one(staging, "select count(*) as n from pg_stat_activity "
                        "where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()")
    return bool(row["n"] == 1)


def _deploy_until_sleeping(env: dict[str, str], sha: str) -> tuple[threading.Thread, list[int]]:
    """Start `deploy --ref sha` in a thread; return once its slow migration sleeps."""
    code: list[int] = []
    thread = threading.Thread(
        target=lambda: code.append(main(["deploy", "staging", "--ref", sha])), daemon=True)
    thread.start()
    _wait_for(lambda: _migrate_running(env["bot"]), "the migrate step")
    _wait_for(lambda: _sleeping(env["staging"]), "the slow migration")
    return thread, code


def _finished(thread: threading.Thread, code: list[int]) -> int:
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive(), "the deploy hung after the database went away"
    return code[0]


def _last_deployment(bot: str) -> tuple[dict[str, Any], dict[str, Any]]:
    dep = _one(bot, "select * from ledger.deployments order by id desc limit 1")
    step = _one(bot, "select * from ledger.deployment_steps "
                     "where deployment_id = %s and name = 'migrate'", dep["id"])
    return dep, step


def test_restart_mid_migration_commits_nothing(
        server: EmbeddedPostgres, env: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "staging"]) == 0
    before = asyncio.run(snapshot(env["staging"]))
    sha = branch_with(Path(env["repo"]), "slow", BRANCH)
    thread, code = _deploy_until_sleeping(env, sha)
    assert server.stop()  # fast shutdown: the sleeping transaction is aborted
    server.ensure_running()
    assert _finished(thread, code) == 1, capsys.readouterr().out
    dep, step = _last_deployment(env["bot"])
    assert (dep["status"], dep["failed_step"]) == ("rolled_back", "migrate")
    assert "lost the connection" in dep["reason"] and "no COMMIT was sent" in dep["reason"]
    assert (step["status"], step["undo_status"]) == ("failed", "undone")
    assert ("the transaction did not commit (checked: none of its 2 version(s) is in "
            "supabase_migrations.schema_migrations)") in step["output"]
    after = asyncio.run(snapshot(env["staging"]))
    assert diff(before, after, sequences=False) == []


def test_database_stays_down_fails_cleanly_and_says_so(
        server: EmbeddedPostgres, env: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    # The server stays down, so every wait of the reconnection window is spent: keep it
    # short (3 attempts fit in 3 s; the default 30 s window makes 9).
    config = Path(env["repo"]) / ".github/deploybot.yml"
    push = "    deploy_on_push: [main]\n"
    config.write_text(config.read_text().replace(push, push + "    reconnect_within: 3s\n", 1))
    commit(Path(env["repo"]), "a short reconnection window")  # read from main, committed
    assert main(["deploy", "staging"]) == 0
    sha = branch_with(Path(env["repo"]), "slow", BRANCH)
    thread, code = _deploy_until_sleeping(env, sha)
    assert server.stop()
    try:
        assert _finished(thread, code) == 3
    finally:
        server.ensure_running()
    out = capsys.readouterr().out
    assert "a person is needed" in out
    dep, step = _last_deployment(env["bot"])
    assert (dep["status"], dep["failed_step"]) == ("rollback_failed", "migrate")
    assert "lost the connection" in dep["reason"] and "no COMMIT was sent" in dep["reason"]
    assert (step["status"], step["undo_status"]) == ("failed", "undo_failed")
    # the undo cannot read the history to check it: it says so, and what to look for
    assert ("cannot check whether the transaction applying 2 migration(s) committed"
            in step["undo_message"])
    assert "after 3 attempts" in step["undo_message"]  # the bounded retries, the last error
    assert f"versions {QUICK[:14]}, {SLOW[:14]}" in step["undo_message"]
    running = _one(env["bot"], "select count(*) as n from ledger.deployment_steps "
                               "where 'running' in (status, undo_status)")
    assert running["n"] == 0
    # Back up: what a person sees. No COMMIT had been sent: nothing of the branch stays.
    assert main(["status", "staging"]) == 0
    status = capsys.readouterr().out
    assert f"#{dep['id']} deploy" in status and "rollback_failed" in status
    assert "could not be rolled back: a person must check" in " ".join(status.split())
    applied = status.split("applied migrations (", 1)[1]  # the table
    assert QUICK[:14] not in applied and SLOW[:14] not in applied
    assert "no COMMIT was sent" in " ".join(status.split())  # the why
