"""The function host, run as the real subprocess the worker starts: Supabase's routes and
JWT check, TypeScript functions served by sandboxed Deno, load errors, metrics, and
switching releases without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from tests.functions_host.conftest import HostFactory
from tests.functions_host.fnhost_helpers import (
    ANON_KEY,
    EDGE_RUNTIME_FN,
    GREET_FN,
    JWT_SECRET,
    RAISING_FN,
    SERVICE_KEY,
    auth,
    version_of,
    wait_for,
    write_config_toml,
    write_function,
    write_version,
)
from workers.drivers.function_host_process import FunctionHostError
from workers.drivers.functions import PostgresFunctionReleases
from workers.functions_host.auth import sign_anon_key

# Long enough that only the NOTIFY can explain a switch within the tests' deadlines.
NO_POLLING = 600.0


def _cmdline(pid: int | None) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode()


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
                todo.append(int(entry.name))
    return found


async def _publish(releases: PostgresFunctionReleases, functions_dir: Path,
                   commit: str = "a" * 40) -> int:
    release = await releases.publish(functions_dir, commit)
    await releases.activate(release.id)
    return release.id


async def test_serves_the_active_release_behind_supabase_routes(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    write_function(functions_dir, "greet", GREET_FN)
    (functions_dir / "_shared").mkdir()
    (functions_dir / "_shared" / "greeting.ts").write_text('export const GREETING = "hi";\n')
    release_id = await _publish(releases, functions_dir)
    host = await start_host(fresh_db)

    r = await client.post(f"{host.url}/functions/v1/hello/a/b?x=1&y=%20", headers=auth(),
                          content=b"payload")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == "v1" and body["method"] == "POST" and body["body"] == "payload"
    # As on Supabase: the function sees /<name>/<rest>, query string kept.
    assert body["path"] == "/hello/a/b" and body["query"] == "x=1&y=%20"
    assert body["supabase_url"] == host.url  # SUPABASE_URL: the host, as the function sees it
    r = await client.delete(f"{host.url}/functions/v1/hello", headers=auth())
    assert r.json()["path"] == "/hello" and r.json()["method"] == "DELETE"

    # Several modules, a shared one, an npm: dependency fetched before it started.
    r = await client.post(f"{host.url}/functions/v1/greet", headers=auth(),
                          json={"name": "Ada"})
    assert r.status_code == 200, (await client.get(f"{host.url}/_deploybot/health")).text
    assert r.json() == {"greeting": "hi, Ada"}
    r = await client.post(f"{host.url}/functions/v1/greet", headers=auth(), json={})
    assert r.status_code == 400 and r.json() == {"error": "name is required"}

    health = (await client.get(f"{host.url}/_deploybot/health")).json()
    assert health["ready"] is True
    assert health["release"]["id"] == release_id
    assert health["release"]["commit"] == "a" * 40
    assert health["release"]["slugs"] == ["greet", "hello"]
    assert health["release"]["errors"] == {}


def _jwt(secret: str, **claims: object) -> str:
    return jwt.encode({"role": "authenticated", "sub": "u1", **claims}, secret,
                      algorithm="HS256")


async def test_jwts_are_checked_as_supabase_does_unless_verify_jwt_is_false(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_version(functions_dir, "hello", "v1")
    write_version(functions_dir, "webhook", "open")
    write_config_toml(functions_dir, """
        [functions.webhook]
        verify_jwt = false
        """)
    await _publish(releases, functions_dir)
    anon = sign_anon_key(JWT_SECRET, "staging")
    host = await start_host(fresh_db, anon_key=anon, jwt_secret=JWT_SECRET,
                            service_key=SERVICE_KEY)
    url = f"{host.url}/functions/v1/hello"

    missing = await client.get(url)
    assert missing.status_code == 401
    assert missing.json() == {"code": 401, "message": "Missing authorization header"}
    expired = _jwt(JWT_SECRET, exp=int(time.time()) - 60)
    for header in (f"Bearer {anon}x", "Bearer", f"Basic {anon}", anon,
                   f"Bearer {_jwt('another-secret-of-enough-length-0123456789')}",
                   f"Bearer {expired}", f"Bearer {ANON_KEY}"):
        r = await client.get(url, headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json() == {"code": 401, "message": "Invalid JWT"}
    for token in (anon, _jwt(JWT_SECRET), SERVICE_KEY):
        assert (await client.get(url, headers=auth(token))).status_code == 200, token
    assert (await client.get(url, headers={"Authorization": f"bearer {anon}"})
            ).status_code == 200

    # verify_jwt = false in supabase/config.toml: anyone may call it.
    open_fn = await client.post(f"{host.url}/functions/v1/webhook/events")
    assert open_fn.status_code == 200 and open_fn.json()["version"] == "open"

    # Unknown slugs are 404 only for callers with a valid JWT (no probing without one).
    assert (await client.get(f"{host.url}/functions/v1/nope")).status_code == 401
    nope = await client.get(f"{host.url}/functions/v1/nope", headers=auth(anon))
    assert nope.status_code == 404
    assert nope.json()["message"] == "Requested function was not found"


async def test_a_host_without_a_jwt_secret_accepts_its_configured_keys(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    # An environment set up before it had a JWT secret: its anon key keeps working.
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db)
    url = f"{host.url}/functions/v1/hello"
    assert (await client.get(url, headers=auth(ANON_KEY))).status_code == 200
    r = await client.get(url, headers=auth(_jwt(JWT_SECRET)))
    assert r.status_code == 401


async def test_load_errors_are_reported_and_a_raising_function_gives_500_json(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_function(functions_dir, "boom", RAISING_FN)
    write_function(functions_dir, "syntax", "Deno.serve((req) => {\n")
    write_function(functions_dir, "throws", 'throw new Error("no config at import");\n')
    write_function(functions_dir, "idle", 'console.log("loaded, serving nothing");\n')
    write_function(functions_dir, "nodep",
                   'import x from "npm:deploybot-surely-missing-package-0x1";\n'
                   "Deno.serve(() => new Response(String(x)));\n")
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db)

    r = await client.post(f"{host.url}/functions/v1/boom", headers=auth())
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "FUNCTION_ERROR"
    assert "secret internal detail" not in r.text

    health = (await client.get(f"{host.url}/_deploybot/health")).json()
    errors = health["release"]["errors"]
    assert sorted(errors) == ["idle", "nodep", "syntax", "throws"]
    assert "no config at import" in errors["throws"]
    assert "SyntaxError" in errors["syntax"]
    assert "without calling Deno.serve" in errors["idle"]
    assert "deploybot-surely-missing-package-0x1" in errors["nodep"]
    # A function that cannot load answers 500; the others still serve.
    r = await client.get(f"{host.url}/functions/v1/throws", headers=auth())
    assert r.status_code == 500 and r.json()["code"] == "FUNCTION_UNAVAILABLE"
    assert (await version_of(client, host.url)) == "v1"

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
    host = await start_host(fresh_db, jwt_secret=JWT_SECRET)
    assert host.pid is not None

    # Neither the host's command line nor any of its functions' (bwrap, Deno) holds a key.
    children = _descendants(host.pid)
    assert children, "the function's sandbox runs under the host"
    for pid in [host.pid, *children]:
        with contextlib.suppress(OSError):
            cmdline = _cmdline(pid)
            assert ANON_KEY not in cmdline and fresh_db not in cmdline
            assert JWT_SECRET not in cmdline
    env = (await client.get(f"{host.url}/functions/v1/hello", headers=auth())).json()["env"]
    assert env == ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL"]
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


async def test_the_operators_opt_out_still_runs_functions_with_denos_permissions(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # DEPLOYBOT_SANDBOX=off (the server's explicit setting, never the repository's): no
    # bubblewrap, but the same Deno flags and the same environment of its own.
    monkeypatch.setenv("DEPLOYBOT_SANDBOX", "off")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "-----BEGIN worker secret-----")
    write_version(functions_dir, "hello", "v1")
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db)
    r = await client.get(f"{host.url}/functions/v1/hello/x", headers=auth())
    assert r.status_code == 200, (await client.get(f"{host.url}/_deploybot/health")).text
    assert r.json()["path"] == "/hello/x"
    assert r.json()["env"] == ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL"]


async def test_a_function_that_exits_is_started_again(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient) -> None:
    write_function(functions_dir, "fragile", """
        Deno.serve((req: Request) => {
          if (new URL(req.url).pathname.endsWith("/exit")) Deno.exit(7);
          return new Response("alive");
        });
        """)
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db)
    url = f"{host.url}/functions/v1/fragile"
    assert (await client.get(url, headers=auth())).text == "alive"

    crashed = await client.get(f"{url}/exit", headers=auth())
    assert crashed.status_code == 502 and crashed.json()["code"] == "FUNCTION_ERROR"

    async def alive_again() -> bool:
        r = await client.get(url, headers=auth())
        return r.status_code == 200 and r.text == "alive"
    await wait_for(alive_again, what="the function to be started again")
    health = (await client.get(f"{host.url}/_deploybot/health")).json()
    assert health["release"]["errors"] == {}


async def test_edge_runtime_wait_until_and_optional_variables_work_as_on_supabase(
        fresh_db: str, releases: PostgresFunctionReleases, functions_dir: Path,
        start_host: HostFactory, client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Set in the worker, never in a function's sandbox: reads as unset there.
    monkeypatch.setenv("STRIPE_API_KEY", "sk_worker_secret")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "-----BEGIN worker secret-----")
    write_function(functions_dir, "background", EDGE_RUNTIME_FN)
    await _publish(releases, functions_dir)
    host = await start_host(fresh_db, service_key=SERVICE_KEY)
    url = f"{host.url}/functions/v1/background"

    first = await client.get(url, headers=auth())
    assert first.status_code == 200, (await client.get(f"{host.url}/_deploybot/health")).text
    state = first.json()
    # An optional variable it was not given loaded as unset instead of failing the load.
    assert state["optional"] == "not set" and state["has"] is False
    assert state["edgeRuntime"] == "function"
    # toObject() lists Supabase's variables of its own environment, nothing of the worker.
    assert state["all"] == ["SUPABASE_ANON_KEY", "SUPABASE_DB_URL", "SUPABASE_SERVICE_ROLE_KEY",
                            "SUPABASE_URL"]

    accepted = await client.get(url, params={"task": "t1"}, headers=auth())
    assert accepted.status_code == 200 and accepted.json() == {"accepted": "t1"}

    async def finished() -> bool:
        now = (await client.get(url, headers=auth())).json()
        return bool(now["done"] == ["t1"])
    await wait_for(finished, what="the background task to finish after the response")
    # The failing background task was logged, not the end of the process.
    assert (await client.get(url, headers=auth())).json()["boot"] == state["boot"]
