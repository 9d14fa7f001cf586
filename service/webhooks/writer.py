"""Deliveries written together: group commit in PostgreSQL, enqueues pipelined in Redis.

Every request that reaches the intake waits until its own delivery is durable (committed,
WAL flushed) before it is answered; deliveries that arrive while a commit is under way go
into the next one, so a burst shares its flushes instead of paying one per request — the way
PostgreSQL's own group commit shares WAL flushes. One writer per web process: the batch is
whatever arrived meanwhile, never a timer (a lone delivery is written at once).

Redis comes after the answer: the reconciler re-enqueues any delivery recorded but not
handled, so losing the process between commit and enqueue loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from service import queue

log = logging.getLogger(__name__)
MAX_BATCH = 256

# The whole batch as one statement over arrays, sent binary (%b: no escaping): one parse, one
# plan, one result, where executemany's pipeline cost ~60 µs of Python per delivery.
_INSERT = """INSERT INTO ledger.deliveries (id, event, action, installation_id, repo, payload)
             SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::int8[], %b::text[],
                                  %b::text[])
             ON CONFLICT (id) DO NOTHING RETURNING id"""


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    # The payload's JSON as received, stored as it is: encoding 15 KB again per delivery
    # was a tenth of the intake's CPU.
    payload_text: str
    urgent: bool = False


class DeliveryWriter:
    """`await writer.record(delivery)` → True when new, False for a redelivery; returns
    once the delivery is durable in PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool[Any], redis: ArqRedis, prefix: str) -> None:
        self._pool = pool
        self._redis = redis
        self._prefix = prefix
        self._waiting: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._enqueues: set[asyncio.Task[None]] = set()
        self.commits = 0  # transactions written: fewer than deliveries under load

    async def record(self, delivery: Delivery) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        # shield: a client hanging up does not cancel the write others share.
        return await asyncio.shield(future)

    async def _flush_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                new = await self._insert([d for d, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception)
                                             else RuntimeError("the intake stopped"))
                if not isinstance(exc, Exception):
                    raise
                continue
            fresh: list[Delivery] = []
            for (delivery, future), is_new in zip(batch, new, strict=True):
                if is_new:
                    fresh.append(delivery)
                if not future.done():
                    future.set_result(is_new)
            if fresh:
                task = asyncio.create_task(self._enqueue(fresh))
                self._enqueues.add(task)
                task.add_done_callback(self._enqueues.discard)

    async def _insert(self, batch: Sequence[Delivery]) -> list[bool]:
        """One transaction, one commit for the whole batch; per delivery whether it is new
        (a redelivery, or the same id twice in the batch, is not)."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            # One statement: on an autocommit connection (the app's pool) its own
            # transaction, committed without a round trip of its own.
            await cur.execute(_INSERT, (
                [d.id for d in batch], [d.event for d in batch], [d.action for d in batch],
                [d.installation_id for d in batch], [d.repo for d in batch],
                [d.payload_text for d in batch]))
            inserted = {row[0] for row in await cur.fetchall()}
            if not conn.autocommit:
                await conn.commit()
        self.commits += 1
        new: list[bool] = []
        for d in batch:  # the first of the same id twice in a batch is the new one
            new.append(d.id in inserted)
            inserted.discard(d.id)
        return new

    async def _enqueue(self, fresh: Sequence[Delivery]) -> None:
        try:
            await queue.enqueue_many(self._redis, self._prefix, [
                queue.JobSpec("handle_delivery", queue.delivery_job_id(self._prefix, d.id),
                              (d.id,), ahead=d.urgent) for d in fresh])
        except Exception:  # Redis down: recorded is enough, the reconciler enqueues later
            log.warning("could not enqueue %d deliveries; the reconciler will", len(fresh),
                        exc_info=True)

    async def aclose(self) -> None:
        """Finish what was accepted: the writes waited on, then their enqueues."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if self._enqueues:
            await asyncio.gather(*self._enqueues, return_exceptions=True)
