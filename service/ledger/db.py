"""Connections to the bot's database, and its schema kept up to date at start."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg.rows import DictRow, class_row, dict_row
from psycopg_pool import AsyncConnectionPool

Params = Sequence[Any] | Mapping[str, Any]
R = TypeVar("R")  # a row type: a TypedDict of service/ledger/rows.py
# The pools of the web process and the worker: autocommit connections, rows as dicts.
LedgerPool = AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]

SCHEMA = Path(__file__).with_name("schema.sql")
_SCHEMA_LOCK = 7_210_001  # advisory lock id: one process migrates the ledger at a time


async def connect(url: str) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def fetch_all(conn: psycopg.AsyncConnection[Any], row: type[R], query: LiteralString,
                    params: Params = ()) -> list[R]:
    """The rows as dicts, whatever row factory the connection was opened with (the
    worker's pool gives dicts, a plain connection tuples): callers index by name only.

    `row` is the rows' TypedDict: called with a row's columns, it builds the plain dict
    `dict_row` would, and tells mypy which keys it has. The one place rows leave psycopg."""
    async with conn.cursor(row_factory=class_row(row)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_one(conn: psycopg.AsyncConnection[Any], row: type[R], query: LiteralString,
                    params: Params = ()) -> R | None:
    async with conn.cursor(row_factory=class_row(row)) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def ensure_schema(url: str) -> None:
    """Create the ledger's tables (idempotent, safe with several processes at once).

    Skipped when this very schema was applied already: its `ALTER TABLE … IF NOT EXISTS`
    and `CREATE INDEX IF NOT EXISTS` take their table locks even when there is nothing to
    do, and a process starting beside running deployments deadlocked with them."""
    text = SCHEMA.read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        if await _applied(conn, digest):
            return
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            if not await _applied(conn, digest):
                await conn.execute(text.encode())
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS ledger.schema_applied ("
                    " digest text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                await conn.execute("INSERT INTO ledger.schema_applied (digest) VALUES (%s) "
                                   "ON CONFLICT DO NOTHING", (digest,))
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


async def _applied(conn: psycopg.AsyncConnection[Any], digest: str) -> bool:
    try:
        cur = await conn.execute("SELECT 1 FROM ledger.schema_applied WHERE digest = %s",
                                 (digest,))
    except psycopg.errors.UndefinedTable:  # a new database, or one from before this table
        return False
    return await cur.fetchone() is not None
