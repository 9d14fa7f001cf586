"""arq's Worker, shutting down whole.

arq's `close()` cancels the running jobs, then gathers them. A job cancelled while arq
records its result re-raises CancelledError into that gather, and `close()` stops there:
`on_shutdown` never runs, so the database pool, the GitHub client and their sockets stay
open, and a caller awaiting `close()` sees CancelledError (found by the webhook fuzzer's
teardown). Here the cancelled jobs settle first — arq has logged each one's end — and the
rest of `close()` always runs."""

from __future__ import annotations

import asyncio

from arq.worker import Worker as ArqWorker


class Worker(ArqWorker):
    async def close(self) -> None:
        running = list(self.tasks.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self.tasks.clear()
        await super().close()
