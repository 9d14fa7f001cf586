"""A reporter that publishes a snapshot of the deployment, at most once per interval.

GitHub's secondary rate limit allows about 80 content-creating requests a minute, so a
check run or a comment is updated in place with the latest state rather than once per
event. The final state is always published, without delay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from workers.reporters.progress import Progress
from workers.runbook.events import Event, EventKind

log = logging.getLogger(__name__)


class Debounced:
    interval: float = 2.0

    def __init__(self, interval: float | None = None) -> None:
        self.progress = Progress()
        if interval is not None:
            self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        self._lock = asyncio.Lock()

    async def publish(self, final: bool) -> None:
        """Send the current snapshot (subclasses)."""
        raise NotImplementedError

    async def emit(self, event: Event) -> None:
        self.progress.apply(event)
        if event.kind is EventKind.DEPLOYMENT_FINISHED:
            await self.close()
            return
        if event.kind is EventKind.OUTPUT or self._task is not None:
            if self._task is None:
                self._task = asyncio.create_task(self._later())
            return  # output alone waits for the next scheduled publication
        self._task = asyncio.create_task(self._later())

    async def _later(self) -> None:
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._task = None
        await self._send(final=False)

    async def _send(self, final: bool) -> None:
        async with self._lock:
            self._last = time.monotonic()
            try:
                await self.publish(final)
            except Exception:
                if final:
                    raise
                log.warning("%s: publishing progress failed; the next update will retry",
                            type(self).__name__, exc_info=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._send(final=True)
