"""Follow the environment's active-release pointer.

LISTEN on the channel `activate()` notifies, and re-read the pointer every `poll_interval`
seconds anyway: a notification sent while the connection was down is lost, the pointer is
not. The pointer (not the payload) is the truth, so out-of-order notifications are harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

from service.retrying import backoff
from workers.drivers.functions import CHANNEL, fetch_active_pointer, fetch_bundle
from workers.functions_host.deno_runtime import FunctionEnvironment
from workers.functions_host.releases import LoadedRelease, load_release, no_release

log = logging.getLogger("deploybot.functions_host")

Switch = Callable[[LoadedRelease], Awaitable[None]]


class ReleaseWatcher:
    def __init__(self, database_url: str, cache_root: Path, environment: FunctionEnvironment,
                 switch: Switch, *, poll_interval: float = 5.0) -> None:
        self._database_url = database_url
        self.cache_root = cache_root
        self._environment = environment
        self._switch = switch
        self.poll_interval = poll_interval
        self.first_sync = asyncio.Event()
        self.loaded_id: int | None = None
        self.loaded_digest: str | None = None
        self.connected = False
        self.connections = 0  # how many times the LISTEN connection was (re)established
        self.last_sync: float | None = None
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"ReleaseWatcher(cache={self.cache_root})"

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "connections": self.connections,
                "last_sync": self.last_sync,
                "last_error": self.last_error, "poll_interval": self.poll_interval}

    async def run(self) -> None:
        """Forever: connect, LISTEN, sync; on any connection trouble, back off and retry.

        A supervisor, not a bounded retry: it never gives up and its backoff starts over
        once connected, so it counts failures itself and waits `backoff` (with jitter)."""
        failures = 0
        while True:
            cap = max(self.poll_interval, 1.0)
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True, connect_timeout=10,
                    application_name="deploybot-functions-host")
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    self.connections += 1
                    self.last_error = None
                    failures = 0
                    # After LISTEN: an activation from now on is either seen here or notified.
                    await self._sync(conn)
                    while True:
                        async for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                            pass  # any notification (or the timeout) means: read the pointer
                        await self._sync(conn)
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                failures += 1
                wait = backoff(failures, first=0.5, cap=cap)
                self.last_error = _first_line(exc)
                log.warning("release watcher lost the database (%s); retrying in %.1f s",
                            self.last_error, wait)
            except Exception as exc:  # a bug must not stop the host from following releases
                failures += 1
                wait = backoff(failures, first=0.5, cap=cap)
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("release watcher failed; retrying in %.1f s", wait)
            finally:
                self.connected = False
            await asyncio.sleep(wait)

    async def _sync(self, conn: psycopg.AsyncConnection[Any]) -> None:
        release_id, _ = await fetch_active_pointer(conn)
        if self.first_sync.is_set() and release_id == self.loaded_id:
            self.last_sync = time.time()
            return
        bundle = await fetch_bundle(conn, release_id) if release_id is not None else None
        release = (no_release() if bundle is None
                   else await load_release(bundle, self.cache_root, self._environment))
        await self._switch(release)
        self.loaded_id = release.id
        self.loaded_digest = release.digest
        self.last_sync = time.time()
        self.last_error = None
        self.first_sync.set()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
