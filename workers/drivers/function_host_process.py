"""Start a function host for an environment that has no functions URL configured.

The host runs as a subprocess on a loopback port. The parent binds the socket and hands it
down (no window in which another process could take the port), passes the database URL and
key in environment variables (never argv, which every local user can read), and gives the
child a minimal environment: the host holds this environment's keys and no other secret
(GitHub key, production URLs). The functions, code from the pull request being deployed,
run in sandboxes of their own and see neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections import deque
from pathlib import Path
from types import TracebackType

import httpx

from service.settings import Settings

log = logging.getLogger("deploybot.functions_host")

_URL_VAR = "DEPLOYBOT_FN_DATABASE_URL"
_ANON_VAR = "DEPLOYBOT_FN_ANON_KEY"
_SERVICE_VAR = "DEPLOYBOT_FN_SERVICE_KEY"
_JWT_VAR = "DEPLOYBOT_FN_JWT_SECRET"
# What the child inherits from the worker's environment; everything else stays behind.
# The sandbox settings are the operator's; the registry and proxies let `deno cache` fetch.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH",
              "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "PGPASSFILE", "PGSSLMODE",
              "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "DEPLOYBOT_SANDBOX",
              "DEPLOYBOT_SANDBOX_UID", "NPM_CONFIG_REGISTRY", "HTTPS_PROXY", "HTTP_PROXY",
              "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
_INHERITED_PREFIXES = ("COVERAGE_",)


class FunctionHostError(RuntimeError):
    """The function host did not start; the message has the reason and its last output."""


class FunctionHostProcess:
    """`async with FunctionHostProcess(url, key) as host: host.url` — or start()/stop().

    The host itself is trusted (it holds the keys); the functions it serves run each in
    their own sandbox (workers/functions_host/deno_runtime.py)."""

    def __init__(
        self,
        database_url: str,
        anon_key: str,
        *,
        data_dir: Path | None = None,
        service_key: str | None = None,
        jwt_secret: str | None = None,
        host: str = "127.0.0.1",
        poll_interval: float = 5.0,
        # Its first release's dependencies may be fetched from npm before it answers.
        startup_timeout: float = 120.0,
        python: str = sys.executable,
    ) -> None:
        self._database_url = database_url
        self._anon_key = anon_key
        self._service_key = service_key
        self._jwt_secret = jwt_secret
        self.data_dir = (data_dir or Settings.from_env().data_dir).resolve()
        self.host = host
        self.poll_interval = poll_interval
        self.startup_timeout = startup_timeout
        self.python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self._url: str | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # no URL, no key
        return f"FunctionHostProcess(url={self._url!r}, pid={self.pid})"

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the function host is not started")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def output(self) -> str:
        """The host's last lines of output (for diagnostics)."""
        return "\n".join(self._tail)

    async def __aenter__(self) -> FunctionHostProcess:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def ensure_started(self) -> str:
        """The base URL, starting the host (again, if it died) when needed."""
        async with self._lock:
            if not self.running:
                await self._start()
            return self.url

    async def start(self) -> str:
        """Start the host and wait until it serves; returns its base URL."""
        async with self._lock:
            if self.running:
                raise RuntimeError("the function host is already running")
            return await self._start()

    async def _start(self) -> str:
        await self._stop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
            sock.listen(128)
            port = sock.getsockname()[1]
            sock.set_inheritable(True)
            env = {k: v for k, v in os.environ.items()
                   if k in _INHERITED or k.startswith(_INHERITED_PREFIXES)}
            env[_URL_VAR] = self._database_url
            env[_ANON_VAR] = self._anon_key
            argv = [self.python, "-m", "workers.functions_host",
                    "--database-url-env", _URL_VAR, "--anon-key-env", _ANON_VAR,
                    "--fd", str(sock.fileno()), "--data-dir", str(self.data_dir),
                    "--poll-interval", str(self.poll_interval), "--exit-with-parent"]
            if self._service_key:
                env[_SERVICE_VAR] = self._service_key
                argv += ["--service-key-env", _SERVICE_VAR]
            if self._jwt_secret:
                env[_JWT_VAR] = self._jwt_secret
                argv += ["--jwt-secret-env", _JWT_VAR]
            self._tail.clear()
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, pass_fds=(sock.fileno(),))
        finally:
            sock.close()  # the child holds its own copy
        self._drain = asyncio.create_task(self._read_output())
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        url = f"http://{host}:{port}"
        try:
            await self._wait_healthy(url)
        except BaseException:
            await self._stop()
            raise
        self._url = url
        return url

    async def _wait_healthy(self, url: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        last = "no answer yet"
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                assert self._proc is not None
                if self._proc.returncode is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._drain_done()), 2)
                    raise FunctionHostError(
                        f"the function host exited with code {self._proc.returncode} while "
                        f"starting; its output:\n{self.output or '(none)'}")
                try:
                    response = await client.get(f"{url}/_deploybot/health")
                    if response.status_code == 200:
                        return
                    last = f"health answered {response.status_code}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}"
                if loop.time() > deadline:
                    raise FunctionHostError(
                        f"the function host did not become healthy within "
                        f"{self.startup_timeout:.0f} s ({last}); its output:\n"
                        f"{self.output or '(none)'}")
                await asyncio.sleep(0.05)

    async def _drain_done(self) -> None:
        if self._drain is not None:
            await self._drain

    async def _read_output(self) -> None:
        proc = self._proc  # stop() forgets it before the last lines are read
        assert proc is not None and proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._tail.append(line)
            log.info("functions host %s: %s", proc.pid, line)

    async def stop(self) -> None:
        """Terminate the host (kill it if it does not stop within 5 s)."""
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        proc, self._proc, self._url = self._proc, None, None
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except BaseException as exc:
                # Slow to stop, or this job was cancelled meanwhile (a worker shutting
                # down): killed and reaped either way, never left serving on its own.
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
                if not isinstance(exc, TimeoutError):
                    raise
        if self._drain is not None:
            try:
                await asyncio.wait_for(self._drain, 2.0)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception as exc:
                log.debug("functions host output reader ended: %r", exc)
            self._drain = None
