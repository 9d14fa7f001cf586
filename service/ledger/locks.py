"""Sticky locks (/lock, /unlock): an environment kept for one pull request."""

from __future__ import annotations

from typing import Any

import psycopg

from service.ledger.db import fetch_all, fetch_one
from service.ledger.rows import EnvironmentRow, LockRow


async def lock_of(conn: psycopg.AsyncConnection[Any], repo: str, environment: str
                  ) -> LockRow | None:
    return await fetch_one(
        conn, LockRow,
        "SELECT * FROM ledger.locks WHERE repo = %s AND environment = %s", (repo, environment))


async def take(conn: psycopg.AsyncConnection[Any], repo: str, environment: str, *,
               owner: str, pr_number: int | None, reason: str | None) -> LockRow:
    """Take the lock, or return the current holder's row when someone else has it."""
    row = await fetch_one(
        conn, LockRow,
        """INSERT INTO ledger.locks AS l (repo, environment, owner, pr_number, reason)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (repo, environment) DO UPDATE SET reason = EXCLUDED.reason
           WHERE l.pr_number IS NOT DISTINCT FROM EXCLUDED.pr_number
           RETURNING *""", (repo, environment, owner, pr_number, reason))
    if row is not None:
        return row
    held = await lock_of(conn, repo, environment)
    assert held is not None
    return held


async def release(conn: psycopg.AsyncConnection[Any], repo: str, environment: str,
                  pr_number: int | None = None) -> bool:
    cur = await conn.execute(
        """DELETE FROM ledger.locks WHERE repo = %s AND environment = %s
             AND (%s::int IS NULL OR pr_number = %s)""",
        (repo, environment, pr_number, pr_number))
    return cur.rowcount == 1


async def release_for_pr(conn: psycopg.AsyncConnection[Any], repo: str, pr_number: int
                         ) -> list[str]:
    rows = await fetch_all(
        conn, EnvironmentRow,
        "DELETE FROM ledger.locks WHERE repo = %s AND pr_number = %s RETURNING environment",
        (repo, pr_number))
    return [r["environment"] for r in rows]


async def all_locks(conn: psycopg.AsyncConnection[Any], repo: str) -> list[LockRow]:
    return await fetch_all(conn, LockRow, "SELECT * FROM ledger.locks WHERE repo = %s", (repo,))
