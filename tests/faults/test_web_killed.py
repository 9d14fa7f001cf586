"""The web process SIGKILLed in the middle of a burst: every delivery it acknowledged is in
the ledger (a 2xx is only sent once the delivery is durable, group commit or not), and the
worker handles each of them once — those whose enqueue died with the process too, found by
the reconciler."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.app.bot import REPO, SECRET, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.conftest import REDIS_URL
from tests.conftest import REPO as SOURCE
from tests.faults.burst import Delivery, filler
from tests.github_server.server import GitHubTestServer
from tests.http_server import free_port

TOTAL = 1500
IN_FLIGHT = 32
KILL_AFTER = 300  # acknowledgements


def _serve(github: GitHubTestServer, bot_db: str, prefix: str, port: int,
           data_dir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": bot_db, "REDIS_URL": REDIS_URL,
           "DEPLOYBOT_REDIS_PREFIX": prefix, "DEPLOYBOT_DATA_DIR": data_dir,
           "GITHUB_APP_ID": str(github.app_id), "GITHUB_PRIVATE_KEY": github.private_key,
           "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": github.url,
           "DEPLOYBOT_DASHBOARD_TOKEN": "t" * 32, "PYTHONPATH": str(SOURCE)}
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # its own process group: the kill takes every worker


async def _ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "`deploybot serve` exited"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("`deploybot serve` never became ready")


async def _fire_and_kill(url: str, deliveries: list[Delivery],
                         proc: subprocess.Popen[bytes]) -> list[Delivery]:
    """Post with IN_FLIGHT lanes; SIGKILL the server's process group after KILL_AFTER
    acknowledgements. The deliveries that got a 2xx."""
    pending = iter(deliveries)
    acked: list[Delivery] = []
    killed = asyncio.Event()

    async def lane() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for d in pending:
                if killed.is_set():
                    return
                try:
                    r = await client.post(url, content=d.body, headers=d.headers(SECRET))
                except httpx.HTTPError:
                    continue  # in flight when the process died: never acknowledged
                if 200 <= r.status_code < 300:
                    acked.append(d)
                    if len(acked) >= KILL_AFTER and not killed.is_set():
                        killed.set()
                        os.killpg(proc.pid, signal.SIGKILL)

    await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
    return acked


def _ledger(bot_db: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(bot_db, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT id, status, attempts FROM ledger.deliveries").fetchall()
    return {r["id"]: r for r in rows}


@pytest.mark.slow
async def test_every_acknowledged_delivery_survives_a_killed_web_process(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    port = free_port()
    proc = _serve(github_server, world["bot"], redis_prefix, port, str(world["data"]))
    try:
        await _ready(f"http://127.0.0.1:{port}", proc)
        deliveries = filler(TOTAL, repo=REPO, installation_id=1, seed=15)
        acked = await _fire_and_kill(f"http://127.0.0.1:{port}/webhooks", deliveries, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(acked) >= KILL_AFTER
    assert len(acked) < TOTAL, "the kill came after the burst: nothing was in flight"
    recorded = [d for d in acked if d.recorded]
    ledger = _ledger(world["bot"])
    assert [d.id for d in recorded if d.id not in ledger] == []

    # A worker (with its reconciler) takes over: each acknowledged delivery handled once.
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]):
        def all_handled() -> bool:
            rows = _ledger(world["bot"])
            return all(rows[d.id]["status"] not in ("received", "handling") for d in recorded)

        await wait_for(all_handled, limit=240, what="every acknowledged delivery handled")
    rows = _ledger(world["bot"])
    assert {rows[d.id]["attempts"] for d in recorded} == {1}
