"""The function host, run as the real subprocess the worker starts: routing, the bearer
check, errors, metrics, and switching releases without a restart."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.functions_host.conftest import HostFactory
from tests.functions_host.fnhost_helpers import (
    ANON_KEY,
    RAISING_APP,
    SERVICE_KEY,
    STARLETTE_APP,
    auth,
    version_of,
    wait_for,
    write_function,
    write_version,
)
from workers.drivers.function_host_process import FunctionHostError
from workers.drivers.functions import PostgresFunctionReleases

# Long enough that only the NOTIFY can explain a switch within the tests' deadlines.
NO_POLLING = 600.0


def _cmdline(pid: int | None) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode()


async def _publish(releases: PostgresFunctionReleases, functions_dir: Path,
                   commit: str = "a" * 40) -> int:
    release = await releases.publish(functions_dir, commit)
    await releases.activate(release.id)
    return release.id


async def test_serves_the_active_release_with_the_path_rewritten(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    write_function(functions_dir, "greet", STARLETTE_APP, greeting='GREETING = "hi"\n')
    release_id = await _publish(releases, functions_dir)
    host = await start_host(fresh_db)

    r = await client.post(f"{host.url}/functions/v1/hello/a/b?x=1", headers=auth())
    assert r.status_code == 200
    assert r.json()["version"] == "v1"
    assert r.json()["path"] == "/a/b" and r.json()["query"] == "x=1"
    assert r.json()["method"] == "POST"
    r = await client.get(f"{host.url}/functions/v1/hello", headers=auth())
    assert r.json()["path"] == "/"
    assert r.json()["db_url_set"] is True  # SUPABASE_DB_URL, as on Supabase

    # A package with relative imports and a lifespan (its state reaches requests).
    r = await client.get(f"{host.url}/functions/v1/greet", headers=auth())
    assert r.status_code == 200, r.text
    assert r.json() == {"greeting": "hi", "started": "yes"}

    health = (await client.get(f"{host.url}/_deploybot/health")).json()
    assert health["ready"] is True
    assert health["release"]["id"] == release_id
    assert health["release"]["commit"] == "a" * 40
    assert health["release"]["slugs"] == ["greet", "hello"]


async def test_the_bearer_key_is_checked(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db, service_key=SERVICE_KEY)
    url = f"{host.url}/functions/v1/hello"

    missing = await client.get(url)
    assert missing.status_code == 401
    assert missing.json() == {"code": 401, "message": "Missing authorization header"}
    for header in (f"Bearer {ANON_KEY}x", "Bearer", f"Basic {ANON_KEY}", ANON_KEY):
        r = await client.get(url, headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json()["message"] == "Invalid JWT"
    assert (await client.get(url, headers=auth(ANON_KEY))).status_code == 200
    assert (await client.get(url, headers=auth(SERVICE_KEY))).status_code == 200
    assert (await client.get(url, headers={"Authorization": f"bearer {ANON_KEY}"})
            ).status_code == 200

    # Unknown slugs are 404 only for callers with a key (no probing without one).
    assert (await client.get(f"{host.url}/functions/v1/nope")).status_code == 401
    nope = await client.get(f"{host.url}/functions/v1/nope", headers=auth())
    assert nope.status_code == 404
    assert nope.json()["message"] == "Requested function was not found"


async def test_a_function_that_raises_gives_500_json_without_traceback(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_function(functions_dir, "boom", RAISING_APP)
    write_function(functions_dir, "broken", "import does_not_exist_anywhere\n")
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db)

    r = await client.post(f"{host.url}/functions/v1/boom", headers=auth())
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "FUNCTION_ERROR"
    assert "Traceback" not in r.text and "secret internal detail" not in r.text

    # A function that cannot be imported answers 500 too (the host still switched).
    r = await client.get(f"{host.url}/functions/v1/broken", headers=auth())
    assert r.status_code == 500 and r.json()["code"] == "FUNCTION_UNAVAILABLE"
    health = (await client.get(f"{host.url}/_deploybot/health")).json()
    assert "ModuleNotFoundError" in health["release"]["errors"]["broken"]
    assert (await version_of(client, host.url)) == "v1"  # the others still serve

    metrics = (await client.get(f"{host.url}/_deploybot/metrics")).json()
    assert metrics["requests"] == 3 and metrics["errors"] == 2
    assert metrics["functions"]["boom"]["errors"] == 1
    assert metrics["latency_ms"]["p95"] is not None
    assert metrics["complete"] is True
    later = (await client.get(f"{host.url}/_deploybot/metrics",
                              params={"since": metrics["now"]})).json()
    assert later["requests"] == 0 and later["totals"]["requests"] == 3
    bad = await client.get(f"{host.url}/_deploybot/metrics", params={"window": "soon"})
    assert bad.status_code == 400


async def test_switches_on_activate_without_restart_on_every_replica(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    first = await _publish(releases, functions_dir)
    replicas = [await start_host(fresh_db, poll_interval=NO_POLLING) for _ in range(2)]
    pids = [h.pid for h in replicas]
    for host in replicas:
        assert await version_of(client, host.url) == "v1"

    write_version(functions_dir, "hello", "v2")
    await _publish(releases, functions_dir, "b" * 40)
    for host in replicas:
        async def serves_v2(url: str = host.url) -> bool:
            return bool(await version_of(client, url) == "v2")
        await wait_for(serves_v2, what="the replica to serve v2")

    await releases.activate(first)  # and back: release 1 is reloaded under a new name
    for host in replicas:
        async def serves_v1(url: str = host.url) -> bool:
            return bool(await version_of(client, url) == "v1")
        await wait_for(serves_v1, what="the replica to serve v1 again")

    await releases.activate(None)
    for host in replicas:
        async def gone(url: str = host.url) -> bool:
            return bool(await version_of(client, url) == 404)
        await wait_for(gone, what="the functions to be gone")
    assert [h.pid for h in replicas] == pids and all(h.running for h in replicas)


async def test_a_missed_notification_is_caught_by_the_periodic_check(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db, poll_interval=0.3)
    write_version(functions_dir, "hello", "v2")
    two = await releases.publish(functions_dir, "b" * 40)
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # moved without NOTIFY
        conn.execute("UPDATE deploybot.active_function_release SET release_id = %s", (two.id,))

    async def serves_v2() -> bool:
        return bool(await version_of(client, host.url) == "v2")
    await wait_for(serves_v2, what="the periodic re-check to switch")


async def test_the_listen_connection_is_re_established(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db, poll_interval=NO_POLLING)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'deploybot-functions-host' "
            "AND datname = current_database()").fetchone()
    assert killed is not None and killed[0] == 1

    async def reconnected() -> bool:
        health = (await client.get(f"{host.url}/_deploybot/health")).json()
        return bool(health["watcher"]["connected"] and health["watcher"]["connections"] == 2)
    await wait_for(reconnected, what="the watcher to reconnect")
    write_version(functions_dir, "hello", "v2")
    await _publish(releases, functions_dir, "b" * 40)

    async def serves_v2() -> bool:
        return bool(await version_of(client, host.url) == "v2")
    await wait_for(serves_v2, what="the reconnected host to switch")
    assert await version_of(client, host.url) == "v2"


async def test_secrets_stay_out_of_argv_and_the_worker_env_stays_behind(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "-----BEGIN worker secret-----")
    monkeypatch.setenv("PRODUCTION_DATABASE_URL", "postgresql://prod")
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db)

    cmdline = _cmdline(host.pid)
    assert ANON_KEY not in cmdline and fresh_db not in cmdline
    env = (await client.get(f"{host.url}/functions/v1/hello", headers=auth())).json()["env"]
    assert "SUPABASE_DB_URL" in env and "SUPABASE_ANON_KEY" in env
    assert "GITHUB_PRIVATE_KEY" not in env and "PRODUCTION_DATABASE_URL" not in env
    assert ANON_KEY not in repr(host) and fresh_db not in repr(host)


async def test_a_host_that_cannot_start_says_why(fresh_db: str, start_host: HostFactory) -> None:
    with pytest.raises(FunctionHostError, match=r"exited with code 2[\s\S]*is not set"):
        await start_host(fresh_db, anon_key="")


async def test_a_host_without_its_database_is_not_reported_healthy(
        start_host: HostFactory) -> None:
    with pytest.raises(FunctionHostError, match="did not become healthy"):
        await start_host("postgresql://postgres@127.0.0.1:1/nowhere", startup_timeout=2.0)


async def test_a_stop_cancelled_midway_still_kills_and_reaps_the_host(
        fresh_db: str, start_host: HostFactory) -> None:
    # A worker shutting down cancels the job while the host is stopping: the host must not
    # be left running (or unreaped) behind it.
    host = await start_host(fresh_db)
    pid = host.pid
    assert pid is not None
    stopping = asyncio.create_task(host.stop())
    await asyncio.sleep(0.02)  # SIGTERM sent; waiting for the host to exit
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped, not a zombie waiting for us
