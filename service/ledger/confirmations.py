"""Recorded confirmations of checklist items (who confirmed what, when)."""

from __future__ import annotations

from typing import Any

import psycopg

from service.ledger.db import fetch_one
from service.ledger.rows import ConfirmationRow

ITEMS = ("leaked-password-protection",)


async def record(conn: psycopg.AsyncConnection[Any], repo: str, environment: str, item: str,
                 by: str) -> None:
    await conn.execute(
        """INSERT INTO ledger.confirmations (repo, environment, item, confirmed_by)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (repo, environment, item) DO UPDATE
           SET confirmed_by = EXCLUDED.confirmed_by, confirmed_at = now()""",
        (repo, environment, item, by))


async def get(conn: psycopg.AsyncConnection[Any], repo: str, environment: str, item: str
              ) -> ConfirmationRow | None:
    return await fetch_one(
        conn, ConfirmationRow,
        """SELECT * FROM ledger.confirmations
           WHERE repo = %s AND environment = %s AND item = %s""", (repo, environment, item))
