"""Store a quote in the environment's `quotes` table.

The database URL is read from SUPABASE_DB_URL at request time (as Supabase Edge
Functions get it). One short-lived connection per quote: edge functions do not
keep pools, and the URL may point at a transaction pooler, so nothing is prepared.
`created_at` and `expires_at` come from one `now()` (the transaction's start), so
expires_at is exactly created_at + QUOTE_VALIDITY.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from .pricing import CURRENCY, QUOTE_VALIDITY, Breakdown, QuoteRequest

DATABASE_URL_ENV = "SUPABASE_DB_URL"
CONNECT_TIMEOUT_SECONDS = 3  # libpq's own connect timeout (it rounds up to at least 2 s)
STORE_TIMEOUT_SECONDS = 8.0  # connect + insert, whatever hangs

_INSERT = """
INSERT INTO public.quotes
    (customer_id, grams, material, quality, quantity, delivery_speed,
     breakdown, total, currency, expires_at, created_at)
VALUES
    (NULL, %(grams)s, %(material)s, %(quality)s, %(quantity)s, %(delivery_speed)s,
     %(breakdown)s::jsonb, %(total)s, %(currency)s, now() + %(validity)s, now())
RETURNING id, created_at, expires_at
"""


class StorageNotConfigured(Exception):
    """SUPABASE_DB_URL is not set."""


class StorageUnavailable(Exception):
    """The database could not be reached or refused the quote."""


@dataclass(frozen=True)
class StoredQuote:
    id: UUID
    created_at: datetime
    expires_at: datetime


def database_url() -> str:
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        raise StorageNotConfigured(f"{DATABASE_URL_ENV} is not set")
    return url


async def store_quote(
    url: str, request: QuoteRequest, breakdown: Breakdown, breakdown_json: str
) -> StoredQuote:
    """Insert the quote; raises StorageUnavailable for any database failure."""
    try:
        async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
            return await _insert(url, request, breakdown, breakdown_json)
    except TimeoutError as exc:
        raise StorageUnavailable(
            f"database did not answer within {STORE_TIMEOUT_SECONDS} s"
        ) from exc
    except (psycopg.Error, OSError) as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


async def _insert(
    url: str, request: QuoteRequest, breakdown: Breakdown, breakdown_json: str
) -> StoredQuote:
    conn = await psycopg.AsyncConnection.connect(
        url,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        prepare_threshold=None,
        application_name="calculate-quote",
    )
    async with conn:
        cursor = await conn.execute(
            _INSERT,
            {
                "grams": request.grams,
                "material": request.material,
                "quality": request.quality,
                "quantity": request.quantity,
                "delivery_speed": request.delivery_speed,
                "breakdown": breakdown_json,
                "total": breakdown.total,
                "currency": CURRENCY,
                "validity": QUOTE_VALIDITY,
            },
        )
        row = await cursor.fetchone()
    if row is None:
        raise StorageUnavailable("INSERT … RETURNING returned no row")
    quote_id, created_at, expires_at = row
    if not isinstance(quote_id, UUID) or not isinstance(expires_at, datetime):
        raise StorageUnavailable("quotes table returned unexpected column types")
    return StoredQuote(id=quote_id, created_at=created_at, expires_at=expires_at)
