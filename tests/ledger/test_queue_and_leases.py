"""Leases and the request queue on real PostgreSQL."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

from service.ledger import leases, requests
from service.ledger.db import ensure_schema


async def _conn(url: str) -> psycopg.AsyncConnection[dict[str, object]]:
    await ensure_schema(url)
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def test_one_holder_at_a_time_and_expiry_frees_it(fresh_db: str) -> None:
    conn = await _conn(fresh_db)
    try:
        first = await leases.acquire(conn, "o/r", "staging", holder="w1", request_id=1, ttl=0.5)
        assert first is not None
        assert await leases.acquire(conn, "o/r", "staging", holder="w2", request_id=2) is None
        other_env = await leases.acquire(conn, "o/r", "production", holder="w2", request_id=3)
        assert other_env is not None
        await asyncio.sleep(0.7)  # w1 died: it stops renewing and the lease expires
        second = await leases.acquire(conn, "o/r", "staging", holder="w2", request_id=2)
        assert second is not None and second.token > first.token
        assert not await leases.renew(conn, first)  # the stale holder is fenced off
        await leases.release(conn, first)  # a stale release removes nothing
        assert (await leases.holder(conn, "o/r", "staging"))["holder"] == "w2"  # type: ignore[index]
        assert await leases.renew(conn, second)
        await leases.release(conn, second)
        assert await leases.holder(conn, "o/r", "staging") is None
    finally:
        await conn.close()


async def test_concurrent_acquire_has_one_winner(fresh_db: str) -> None:
    conns = [await _conn(fresh_db) for _ in range(8)]
    try:
        got = await asyncio.gather(*(leases.acquire(c, "o/r", "staging", holder=f"w{i}",
                                                    request_id=i) for i, c in enumerate(conns)))
        assert sum(1 for g in got if g is not None) == 1
    finally:
        for c in conns:
            await c.close()


def _req(pr: int | None, by: str = "alice", env: str = "staging",
         delivery: str | None = None) -> requests.NewRequest:
    return requests.NewRequest(repo="o/r", environment=env, kind="deploy",
                               commit_sha="a" * 40, trigger="comment", pr_number=pr,
                               requested_by=by, delivery_id=delivery)


async def test_queue_order_supersede_and_cancel(fresh_db: str) -> None:
    conn = await _conn(fresh_db)
    try:
        a = await requests.create(conn, _req(1))
        b = await requests.create(conn, _req(2, "bob"))
        c = await requests.create(conn, _req(3, "carol"))
        assert [await requests.position(conn, x.id) for x in (a, b, c)] == [1, 2, 3]
        newer = await requests.create(conn, _req(2, "bob"))  # bob pushed and asked again
        assert newer.superseded == [b.id]
        assert await requests.position(conn, newer.id) == 3
        oldest = await requests.oldest_queued(conn, "o/r", "staging")
        assert oldest is not None and oldest["id"] == a.id
        assert await requests.start(conn, a.id, deployment_id=None)  # type: ignore[arg-type]
        assert not await requests.start(conn, a.id, deployment_id=None)  # type: ignore[arg-type]
        cancelled = await requests.cancel(conn, "o/r", 3, "carol")
        assert [r["id"] for r in cancelled] == [c.id]
        assert await requests.cancel(conn, "o/r", 1, "alice") == []  # running: not cancelled
        assert [r["id"] for r in await requests.active(conn, "o/r")] == [a.id, newer.id]
    finally:
        await conn.close()


async def test_a_delivery_creates_one_request(fresh_db: str) -> None:
    conn = await _conn(fresh_db)
    try:
        one = await requests.create(conn, _req(1, delivery="d-1"))
        again = await requests.create(conn, _req(1, delivery="d-1"))
        assert again.existing and again.id == one.id
    finally:
        await conn.close()


async def test_a_merge_and_its_push_at_the_same_moment_make_one_request(fresh_db: str) -> None:
    conns = [await _conn(fresh_db) for _ in range(2)]
    try:
        made = await asyncio.gather(*(requests.create(c, requests.NewRequest(
            repo="o/r", environment="staging", kind="deploy", commit_sha="b" * 40,
            trigger=trigger, delivery_id=f"d-{trigger}"))
            for c, trigger in zip(conns, ("merge", "push"), strict=True)))
        assert sorted(m.existing for m in made) == [False, True]
        assert made[0].id == made[1].id
    finally:
        for c in conns:
            await c.close()


async def test_a_due_report_goes_to_one_job_at_a_time_until_delivered(fresh_db: str) -> None:
    conn = await _conn(fresh_db)
    try:
        made = await requests.create(conn, _req(7))
        await requests.finish(conn, made.id)
        assert await requests.reports_due(conn) == []
        await requests.report_later(conn, made.id, delay_seconds=60,
                                    parts=["check_run", "summary_comment"])
        assert await requests.reports_due(conn) == []  # not yet
        assert await requests.claim_report(conn, made.id) is None
        await requests.report_later(conn, made.id, delay_seconds=0, parts=["check_run"])
        due = await requests.reports_due(conn)
        assert [r["id"] for r in due] == [made.id] and due[0]["report_attempts"] == 2
        assert due[0]["report_parts"] == ["check_run"]  # what is still missing
        claims = await asyncio.gather(*(requests.claim_report(conn, made.id)
                                        for _ in range(3)))
        assert sum(1 for c in claims if c is not None) == 1
        assert await requests.reports_due(conn) == []  # held for the job that claimed it
        await requests.reported(conn, made.id)
        done = await requests.get(conn, made.id)
        assert done is not None and done["report_due"] is None and done["report_parts"] == []
    finally:
        await conn.close()
