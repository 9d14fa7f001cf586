"""Webhook deliveries: recorded by the intake, marked by the worker that handled them."""

from __future__ import annotations

import json
from typing import Any

import orjson
import psycopg

from service.ledger.db import fetch_all, fetch_one
from service.ledger.rows import DeliveryIdRow, DeliveryRow, JsonObject

_COLUMNS = """id, event, action, installation_id, repo, payload, status, result, attempts,
              received_at, claimed_at, processed_at"""

# Python's int() refuses more digits than this (int_max_str_digits).
_INT_DIGITS = 4000


def _int(digits: str) -> int | float:
    return int(digits) if len(digits) <= _INT_DIGITS else float(digits)


def read_json(text: str) -> Any:
    """Stored payload JSON (`ledger.deliveries.payload`: the text as the intake received
    it, checked as JSON, its numbers of any size) as Python values."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # an integer past 64 bits, 1e999: the stdlib reads them
        return json.loads(text, parse_int=_int)


def read_payload(text: str) -> JsonObject:
    data = read_json(text)
    if not isinstance(data, dict):
        raise ValueError("a stored payload is not a JSON object")
    return data


async def record(conn: psycopg.AsyncConnection[Any], *, delivery_id: str, event: str,
                 action: str | None, installation_id: int | None, repo: str | None,
                 payload: dict[str, Any]) -> bool:
    """Store a delivery; False when this id was recorded before (a redelivery)."""
    cur = await conn.execute(
        """INSERT INTO ledger.deliveries (id, event, action, installation_id, repo, payload)
           VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
        (delivery_id, event, action, installation_id, repo, json.dumps(payload)),
    )
    return cur.rowcount == 1


async def get(conn: psycopg.AsyncConnection[Any], delivery_id: str) -> DeliveryRow | None:
    return await fetch_one(conn, DeliveryRow,
                           f"SELECT {_COLUMNS} FROM ledger.deliveries WHERE id = %s",
                           (delivery_id,))


CLAIM_TIMEOUT = 600.0  # a worker that claimed a delivery and died frees it after this


async def claim(conn: psycopg.AsyncConnection[Any], delivery_id: str) -> DeliveryRow | None:
    """Take a delivery for handling (count the attempt); None if it is handled or being
    handled by a live worker."""
    return await fetch_one(
        conn, DeliveryRow,
        f"""UPDATE ledger.deliveries
           SET attempts = attempts + 1, status = 'handling', claimed_at = now()
           WHERE id = %s AND (status = 'received' OR (status = 'handling'
                 AND claimed_at < now() - make_interval(secs => %s)))
           RETURNING {_COLUMNS}""",
        (delivery_id, CLAIM_TIMEOUT),
    )


async def finish(conn: psycopg.AsyncConnection[Any], delivery_id: str, status: str,
                 result: str) -> None:
    await conn.execute(
        """UPDATE ledger.deliveries SET status = %s, result = %s, processed_at = now()
           WHERE id = %s""",
        (status, result[:2000], delivery_id),
    )


async def release(conn: psycopg.AsyncConnection[Any], delivery_id: str, note: str) -> None:
    """Give a delivery back after a failed attempt, for the reconciler to retry."""
    await conn.execute(
        "UPDATE ledger.deliveries SET status = 'received', result = %s WHERE id = %s",
        (note[:2000], delivery_id))


async def unprocessed(conn: psycopg.AsyncConnection[Any], older_than_seconds: float,
                      limit: int = 500) -> list[str]:
    """Deliveries acknowledged but not handled (Redis may have lost their job, or the
    worker handling them died)."""
    rows = await fetch_all(
        conn, DeliveryIdRow,
        """SELECT id FROM ledger.deliveries
           WHERE (status = 'received' AND received_at < now() - make_interval(secs => %s))
              OR (status = 'handling' AND claimed_at < now() - make_interval(secs => %s))
           ORDER BY received_at LIMIT %s""",
        (older_than_seconds, CLAIM_TIMEOUT, limit),
    )
    return [r["id"] for r in rows]
