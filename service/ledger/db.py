"""Connections to the bot's database, and its schema kept up to date at start."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.rows import dict_row

SCHEMA = Path(__file__).with_name("schema.sql")
_SCHEMA_LOCK = 7_210_001  # advisory lock id: one process migrates the ledger at a time


async def connect(url: str) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def ensure_schema(url: str) -> None:
    """Create the ledger's tables (idempotent, safe with several processes at once)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            await conn.execute(SCHEMA.read_text())
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
