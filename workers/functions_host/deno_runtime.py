"""One edge function running in Deno, inside the sandbox.

Two layers hold a function to its own environment. The sandbox (workers/sandbox): its own
unprivileged user, pid and mount namespaces, a private /tmp, and nothing of the host's
files but the release (read-only), the Deno cache (read-only) and a socket directory of
its own; its environment holds only that environment's function variables. Deno's
permission flags: network only to the environment's database (and the host itself, its
SUPABASE_URL) and the socket it serves on, the variables it was given, reads of its
release. It shares the host's network namespace (it must reach its database), so
`--allow-net` is what keeps it from Redis, the ledger and anything else listening.

Dependencies (`npm:`, `jsr:`, https imports) are fetched before a function starts, by
`deno cache` in the same sandbox with the network and the environment's Deno cache
writable, and the function then runs `--cached-only`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from psycopg.conninfo import conninfo_to_dict

from service.denotool import deno_binary
from workers.repository.function_files import EdgeFunction
from workers.sandbox.bubblewrap import Sandbox
from workers.sandbox.policy import Bind, Policy
from workers.sandbox.runner import confined, hand_over, run_confined

log = logging.getLogger("deploybot.functions_host")

# Where things are inside a function's sandbox.
DENO = "/opt/deno/bin/deno"
DENO_DIR = "/opt/deno/cache"
BOOTSTRAP = "/opt/deploybot/bootstrap.ts"
RELEASE = "/srv/release"
SOCKET_DIR = "/run/function"

BOOTSTRAP_SOURCE = Path(__file__).with_name("bootstrap.ts")
SOCKET_VAR = "DEPLOYBOT_FUNCTION_SOCKET"  # where bootstrap.ts listens
CACHE_TIMEOUT_S = 300.0
START_TIMEOUT_S = 30.0
# Supabase's wall-clock limit for a request on the free plan.
REQUEST_TIMEOUT_S = 150.0
# What deno itself reads (not the function: --allow-env does not list them).
# The system's certificates too (bound read-only from /etc/ssl): a registry mirror or a
# database may use the organisation's own CA.
_DENO_ENV = {"DENO_DIR": DENO_DIR, "DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PROMPT": "1",
             "DENO_TLS_CA_STORE": "mozilla,system", "NO_COLOR": "1",
             "HOME": "/tmp"}  # noqa: S108 - the sandbox's private /tmp
# Passed to `deno cache` only, when the host has them (a registry mirror, a proxy).
_FETCH_ENV = ("NPM_CONFIG_REGISTRY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
              "https_proxy", "http_proxy", "no_proxy")
_COMMON_FLAGS = ("--no-lock", "--node-modules-dir=none")
# Variables libraries read for optional settings (postgres.js: PGPASSWORD, PGSSLMODE, …)
# and that are never set in the sandbox: readable, so they read as unset rather than throw.
_PROBED_ENV = ("PG*", "NODE_ENV", "DEBUG")


@dataclass(frozen=True)
class FunctionEnvironment:
    """What every function of one environment gets: Supabase's variables, no more."""

    database_url: str
    anon_key: str
    public_url: str  # the host's base URL, as a function sees it (SUPABASE_URL)
    service_key: str | None = None

    def __repr__(self) -> str:
        return f"FunctionEnvironment(public_url={self.public_url!r})"

    def variables(self) -> dict[str, str]:
        # Never a PG* name: those are readable as unset (_PROBED_ENV).
        env = {"SUPABASE_URL": self.public_url, "SUPABASE_ANON_KEY": self.anon_key,
               "SUPABASE_DB_URL": self.database_url}
        if self.service_key:
            env["SUPABASE_SERVICE_ROLE_KEY"] = self.service_key
        return env

    def net_allowed(self) -> list[str]:
        """host:port the function may connect to: its database and the host itself."""
        allowed = []
        info = conninfo_to_dict(self.database_url)
        hosts = str(info.get("host") or "").split(",")
        ports = str(info.get("port") or "5432").split(",")
        for i, host in enumerate(hosts):
            if host and not host.startswith("/"):  # a unix-socket directory is not reachable
                port = ports[i] if i < len(ports) else ports[-1]
                allowed.append(f"{_bracket(host)}:{port or 5432}")
        public = httpx.URL(self.public_url)
        if public.host:
            allowed.append(f"{_bracket(public.host)}:{public.port or 80}")
        return allowed


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Where:
    """The paths as the function's process sees them: inside the sandbox, or the host's
    own under the operator's explicit opt-out (DEPLOYBOT_SANDBOX=off)."""

    deno: str = DENO
    deno_dir: str = DENO_DIR
    bootstrap: str = BOOTSTRAP
    release: str = RELEASE
    socket_dir: str = SOCKET_DIR

    @property
    def socket(self) -> str:
        return f"{self.socket_dir}/fn.sock"

    def cwd(self, fn: EdgeFunction) -> str:
        folder = fn.entrypoint.rsplit("/", 1)[0] if "/" in fn.entrypoint else ""
        return f"{self.release}/{folder}".rstrip("/")

    def entry_url(self, fn: EdgeFunction) -> str:
        return f"file://{self.release}/{fn.entrypoint}"

    def config_flags(self, fn: EdgeFunction) -> list[str]:
        flags = list(_COMMON_FLAGS)
        if fn.deno_config:
            flags.append(f"--config={self.release}/{fn.deno_config}")
        if fn.import_map:
            flags.append(f"--import-map={self.release}/{fn.import_map}")
        return flags


def where(sandbox: Sandbox, release_dir: Path, deno_dir: Path,
          socket_dir: Path | None = None) -> Where:
    if sandbox.confines:
        return Where()
    return Where(str(deno_binary()), str(deno_dir), str(BOOTSTRAP_SOURCE), str(release_dir),
                 str(socket_dir or "/nonexistent"))


def cache_command(fn: EdgeFunction, release_dir: Path, deno_dir: Path,
                  at: Where = Where()) -> tuple[list[str], Policy]:
    """`deno cache` of the function's entrypoint: the network, the cache writable."""
    env = {**_DENO_ENV, "DENO_DIR": at.deno_dir}
    env.update({k: v for k in _FETCH_ENV if (v := os.environ.get(k))})
    policy = Policy(binds=(Bind(deno_binary(), DENO), Bind(release_dir, RELEASE),
                           Bind(deno_dir, DENO_DIR, writable=True)),
                    env=env, cwd=at.cwd(fn), network=True)
    return [at.deno, "cache", *at.config_flags(fn), at.entry_url(fn)], policy


def serve_policy(release_dir: Path, deno_dir: Path, socket_dir: Path,
                 variables: Mapping[str, str], at: Where = Where(),
                 cwd: str | None = None) -> Policy:
    """The sandbox a function runs in (its Deno flags are in serve_command)."""
    return Policy(binds=(Bind(deno_binary(), DENO), Bind(BOOTSTRAP_SOURCE, BOOTSTRAP),
                         Bind(release_dir, RELEASE), Bind(deno_dir, DENO_DIR),
                         Bind(socket_dir, SOCKET_DIR, writable=True)),
                  env={**_DENO_ENV, "DENO_DIR": at.deno_dir, SOCKET_VAR: at.socket,
                       **variables}, cwd=cwd or at.release, network=True)


def serve_command(fn: EdgeFunction, release_dir: Path, deno_dir: Path, socket_dir: Path,
                  environment: FunctionEnvironment,
                  at: Where = Where()) -> tuple[list[str], Policy]:
    variables = environment.variables()
    argv = [at.deno, "run", "--cached-only", "--no-prompt", *at.config_flags(fn),
            f"--allow-net={','.join([*environment.net_allowed(), f'unix:{at.socket}'])}",
            f"--allow-env={','.join([*sorted(variables), SOCKET_VAR, *_PROBED_ENV])}",
            # Listening on a unix socket needs read and write on its path: that path only.
            f"--allow-read={at.release},{at.socket}", f"--allow-write={at.socket}",
            f"--preload={at.bootstrap}", at.entry_url(fn)]
    return argv, serve_policy(release_dir, deno_dir, socket_dir, variables, at, at.cwd(fn))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def describe_failure(lines: list[str], fallback: str) -> str:
    """Deno's own error (from its last `error:` line on), short enough for a check run."""
    clean = [_ANSI.sub("", line).rstrip() for line in lines if line.strip()]
    start = max((i for i, line in enumerate(clean) if line.startswith("error:")), default=None)
    chosen = clean[start:start + 4] if start is not None else clean[-3:]
    text = "\n".join(chosen).strip() or fallback
    return text if len(text) <= 600 else text[:599] + "…"


async def fetch_dependencies(fn: EdgeFunction, release_dir: Path, deno_dir: Path,
                             sandbox: Sandbox) -> str | None:
    """Cache the function's imports; None when done, else why not."""
    argv, policy = cache_command(fn, release_dir, deno_dir,
                                 where(sandbox, release_dir, deno_dir))
    done = await run_confined(argv, policy, timeout_s=CACHE_TIMEOUT_S, sandbox=sandbox)
    if done.timed_out:
        return f"fetching its dependencies took more than {CACHE_TIMEOUT_S:.0f} s"
    if done.returncode != 0:
        return describe_failure(done.output.splitlines(),
                                f"deno cache exited with code {done.returncode}")
    return None


class DenoFunction:
    """One function's Deno process and the client that talks to it."""

    def __init__(self, fn: EdgeFunction, release_id: int | None) -> None:
        self.fn = fn
        self.release_id = release_id
        self.error: str | None = None  # why it did not load (then it is never revived)
        self.restarts = 0
        self._started: tuple[Path, Path, FunctionEnvironment, Sandbox] | None = None
        self._revived_at = 0.0
        self._lock = asyncio.Lock()
        self._closed = False
        self.client: httpx.AsyncClient | None = None
        self._stack = contextlib.AsyncExitStack()
        self._proc: asyncio.subprocess.Process | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self._drain: asyncio.Task[None] | None = None
        self._socket_dir: Path | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, release_dir: Path, deno_dir: Path,
                    environment: FunctionEnvironment, sandbox: Sandbox) -> None:
        """Start it and wait until it serves; on failure `error` says why."""
        # A short host path: a unix socket's path is limited to 107 bytes.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="deploybot-fn-"))
        self._stack.callback(shutil.rmtree, self._socket_dir, True)
        hand_over(self._socket_dir, sandbox)
        argv, policy = serve_command(self.fn, release_dir, deno_dir, self._socket_dir,
                                     environment,
                                     where(sandbox, release_dir, deno_dir, self._socket_dir))
        self._proc = await self._stack.enter_async_context(
            confined(argv, policy, sandbox=sandbox))
        self._drain = asyncio.create_task(self._read_output(self._proc))
        host_socket = self._socket_dir / "fn.sock"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not host_socket.exists():
            if self._proc.returncode is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._drain), 2)
                self.error = describe_failure(
                    list(self._tail), f"exited with code {self._proc.returncode} while loading")
                await self._stop()
                return
            if loop.time() > deadline:
                self.error = (f"did not call Deno.serve within {START_TIMEOUT_S:.0f} s of "
                              "starting")
                await self._stop()
                return
            await asyncio.sleep(0.02)
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(host_socket)),
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=5.0))
        self._stack.push_async_callback(self.client.aclose)
        self._started = (release_dir, deno_dir, environment, sandbox)

    def exited(self) -> str | None:
        """Why it cannot serve now (it did not load, or it exited since), else None."""
        if self.error is None and self._proc is not None and self._proc.returncode is not None:
            return describe_failure(list(self._tail)[-3:],
                                    f"exited with code {self._proc.returncode}")
        return self.error

    async def revive(self) -> bool:
        """Start it again if it exited after it had loaded (a request made it crash, or
        it called Deno.exit): one bad request must not take it down for good. At most
        once a second; True when it serves."""
        async with self._lock:
            if self.running or self._closed or self._started is None or self.error:
                return self.running
            loop = asyncio.get_running_loop()
            if loop.time() - self._revived_at < 1.0:
                return False
            self._revived_at = loop.time()
            log.warning("function %s (release %s) exited: %s; starting it again",
                        self.fn.slug, self.release_id, self.exited())
            await self._stop()
            self._stack = contextlib.AsyncExitStack()
            self.client = None
            self.restarts += 1
            await self.start(*self._started)
            if self.error is not None:  # it no longer loads: report, don't retry
                log.error("function %s (release %s) cannot start again: %s", self.fn.slug,
                          self.release_id, self.error)
            return self.running

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._tail.append(line)
            log.info("function %s (release %s): %s", self.fn.slug, self.release_id, line)

    async def stop(self) -> None:
        """Stop it for good (its release is being unloaded)."""
        self._closed = True
        await self._stop()

    async def _stop(self) -> None:
        await self._stack.aclose()  # kills the sandbox, closes the client, removes the dir
        if self._drain is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._drain, 2.0)
