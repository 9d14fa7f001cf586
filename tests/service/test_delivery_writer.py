"""The intake's writer: deliveries arriving together share one commit, each caller learns
whether its delivery is new, and each new one is enqueued once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service import queue
from service.ledger.db import ensure_schema
from service.webhooks.writer import Delivery, DeliveryWriter
from tests.conftest import REDIS_URL


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[AsyncConnectionPool]:  # type: ignore[type-arg]
    await ensure_schema(fresh_db)
    async with AsyncConnectionPool(fresh_db, min_size=1, max_size=4, open=False,
                                   kwargs={"autocommit": True,
                                           "row_factory": dict_row}) as p:
        yield p


def delivery(ident: str) -> Delivery:
    return Delivery(id=ident, event="issue_comment", action="created", installation_id=1,
                    repo="o/r", payload_text=json.dumps({"n": ident}))


async def test_a_burst_shares_one_commit_and_each_new_delivery_is_enqueued_once(
        pool: AsyncConnectionPool, redis_prefix: str) -> None:  # type: ignore[type-arg]
    redis = await queue.connect(REDIS_URL)
    try:
        writer = DeliveryWriter(pool, redis, redis_prefix)
        assert await writer.record(delivery("seen-before")) is True
        ids = [f"d{i}" for i in range(50)] + ["d7", "seen-before"]
        results = await asyncio.gather(*(writer.record(delivery(i)) for i in ids))
        await writer.aclose()
        assert results == [True] * 50 + [False, False]
        assert writer.commits == 2  # the lone first one, then the whole burst together
        async with pool.connection() as conn:
            rows = await (await conn.execute("SELECT count(*) AS n FROM ledger.deliveries"
                                             )).fetchone()
        assert rows is not None and rows["n"] == 51
        queued = await redis.zrange(queue.queue_name(redis_prefix), 0, -1)
        assert sorted(q.decode() for q in queued) == sorted(
            queue.delivery_job_id(redis_prefix, i) for i in [*ids[:50], "seen-before"])
    finally:
        await redis.aclose()
