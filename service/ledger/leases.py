"""Environment leases: at most one deployment per environment, never a stuck lock.

A lease expires unless its holder renews it; the fencing token grows with every new holder,
so a worker that paused past its expiry finds its token stale and stops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from service.ledger.db import fetch_all, fetch_one
from service.ledger.rows import LeaseHolderRow, LeaseRow, TokenRow

DEFAULT_TTL = 60.0  # seconds; holders renew every third of it


@dataclass(frozen=True)
class Lease:
    repo: str
    environment: str
    token: int
    holder: str
    request_id: int | None


async def acquire(conn: psycopg.AsyncConnection[Any], repo: str, environment: str, *,
                  holder: str, request_id: int | None, ttl: float = DEFAULT_TTL
                  ) -> Lease | None:
    """Take the lease if it is free or expired; None while someone else holds it."""
    row = await fetch_one(
        conn, TokenRow,
        """INSERT INTO ledger.leases AS l (repo, environment, request_id, holder, token,
                                          expires_at)
           VALUES (%(repo)s, %(env)s, %(req)s, %(holder)s, nextval('ledger.lease_tokens'),
                   now() + make_interval(secs => %(ttl)s))
           ON CONFLICT (repo, environment) DO UPDATE
           SET request_id = EXCLUDED.request_id, holder = EXCLUDED.holder,
               token = EXCLUDED.token, acquired_at = now(), expires_at = EXCLUDED.expires_at
           WHERE l.expires_at < now()
           RETURNING token""",
        {"repo": repo, "env": environment, "req": request_id, "holder": holder, "ttl": ttl},
    )
    if row is None:
        return None
    return Lease(repo, environment, int(row["token"]), holder, request_id)


async def renew(conn: psycopg.AsyncConnection[Any], lease: Lease, ttl: float = DEFAULT_TTL
                ) -> bool:
    """Extend the lease; False when it was lost (expired and taken, or released)."""
    cur = await conn.execute(
        """UPDATE ledger.leases SET expires_at = now() + make_interval(secs => %s)
           WHERE repo = %s AND environment = %s AND token = %s AND expires_at > now()""",
        (ttl, lease.repo, lease.environment, lease.token),
    )
    return cur.rowcount == 1


async def release(conn: psycopg.AsyncConnection[Any], lease: Lease) -> None:
    await conn.execute(
        "DELETE FROM ledger.leases WHERE repo = %s AND environment = %s AND token = %s",
        (lease.repo, lease.environment, lease.token),
    )


async def holder(conn: psycopg.AsyncConnection[Any], repo: str, environment: str
                 ) -> LeaseHolderRow | None:
    return await fetch_one(
        conn, LeaseHolderRow,
        """SELECT *, expires_at < now() AS expired FROM ledger.leases
           WHERE repo = %s AND environment = %s""", (repo, environment))


async def expired(conn: psycopg.AsyncConnection[Any]) -> list[LeaseRow]:
    """Leases whose holder stopped renewing (a dead worker): the reconciler recovers them."""
    return await fetch_all(conn, LeaseRow, "SELECT * FROM ledger.leases WHERE expires_at < now()")
