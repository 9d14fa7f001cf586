"""Connections to the bot's database, and its schema kept up to date at start."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row

Params = Sequence[Any] | Mapping[str, Any]

SCHEMA = Path(__file__).with_name("schema.sql")
_SCHEMA_LOCK = 7_210_001  # advisory lock id: one process migrates the ledger at a time


async def connect(url: str) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def fetch_all(conn: psycopg.AsyncConnection[Any], query: LiteralString,
                    params: Params = ()) -> list[dict[str, Any]]:
    """The rows as dicts, whatever row factory the connection was opened with (the
    worker's pool gives dicts, a plain connection tuples): callers index by name only."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_one(conn: psycopg.AsyncConnection[Any], query: LiteralString,
                    params: Params = ()) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def ensure_schema(url: str) -> None:
    """Create the ledger's tables (idempotent, safe with several processes at once)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            await conn.execute(SCHEMA.read_text())
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
