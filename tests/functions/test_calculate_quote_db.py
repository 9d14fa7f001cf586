"""calculate-quote against a real database: the runbook's smoke test 1 and 2.

The repository's functions are published as a release and served the way every
environment serves them: by a function host subprocess, each function in Deno inside its
sandbox. The quotes table comes from the project's own migrations, applied in order on a
database prepared with the platform shim. (An unreachable database is a 503 too: the
function's Deno tests, index_test.ts, check that with a closed port.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases

ANON_KEY = "anon-key-for-the-calculate-quote-tests"
REPO = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO / "functions" / "calculate-quote"
MIGRATIONS = REPO / "migrations"
QUOTES_MIGRATION = "20260107000001_create_quotes_table.sql"

RUNBOOK_REQUEST = {
    "grams": 100,
    "material": "PLA_STANDARD",
    "quality": "standard",
    "quantity": 1,
    "delivery_speed": "standard",
}
RUNBOOK_BREAKDOWN = {
    "platform_fee": "5.00",
    "bed_rental": "10.00",
    "filament_cost": "9.00",
    "quality_surcharge": "0.00",
    "delivery_fee": "0.00",
    "total": "24.00",
}


def apply_migrations(url: str) -> None:
    files = sorted(MIGRATIONS.glob("*.sql"))
    if not any(path.name == QUOTES_MIGRATION for path in files):
        pytest.fail(
            f"migrations/{QUOTES_MIGRATION} is missing: this test needs the project's "
            f"migrations (found: {[p.name for p in files] or 'none'})"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        for path in files:
            with conn.transaction():
                conn.execute(path.read_text())


@pytest.fixture
def quotes_db(shim_db: str) -> str:
    apply_migrations(shim_db)
    return shim_db


async def _serve(db_url: str, data_dir: Path) -> FunctionHostProcess:
    releases = PostgresFunctionReleases(db_url)
    release = await releases.publish(REPO / "functions", "a" * 40)
    await releases.activate(release.id)
    host = FunctionHostProcess(db_url, ANON_KEY, data_dir=data_dir)
    await host.start()
    return host


@pytest.fixture
async def function(quotes_db: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of calculate-quote, served by a function host on quotes_db."""
    host = await _serve(quotes_db, tmp_path / "data")
    try:
        yield f"{host.url}/functions/v1/calculate-quote"
    finally:
        await host.stop()


async def post(url: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            url,
            content=json.dumps(body),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {ANON_KEY}"},
        )


def money_of(text: str) -> dict[str, str]:
    """The breakdown of a response body, amounts as their literal JSON text."""
    breakdown = json.loads(text, parse_float=str)["breakdown"]
    return {key: str(value) for key, value in breakdown.items()}


def parse_utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


async def test_runbook_example_is_priced_and_stored(quotes_db: str, function: str) -> None:
    with psycopg.connect(quotes_db) as conn:
        before = conn.execute("SELECT now()").fetchone()
    response = await post(function, RUNBOOK_REQUEST)
    with psycopg.connect(quotes_db) as conn:
        after = conn.execute("SELECT now()").fetchone()

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"quote_id", "expires_at", "currency", "breakdown"}
    assert body["currency"] == "CAD"
    assert money_of(response.text) == RUNBOOK_BREAKDOWN
    for name, amount in RUNBOOK_BREAKDOWN.items():
        assert f'"{name}": {amount}' in response.text  # e.g. 24.00 literally, not 24.0

    quote_id = uuid.UUID(body["quote_id"])
    with psycopg.connect(quotes_db) as conn:
        row = conn.execute(
            """
            SELECT customer_id, grams, material, quality, quantity, delivery_speed,
                   breakdown::text, total, currency, status, created_at, expires_at,
                   expires_at - created_at
            FROM public.quotes WHERE id = %s
            """,
            (quote_id,),
        ).fetchone()
    assert row is not None, "the quote_id returned is not a row of quotes"
    (customer_id, grams, material, quality, quantity, speed, breakdown, total, currency,
     status, created_at, expires_at, validity) = row  # fmt: skip
    assert customer_id is None
    assert (grams, material, quality, quantity, speed) == (
        Decimal("100.00"), "PLA_STANDARD", "standard", 1, "standard"
    )  # fmt: skip
    assert total == Decimal("24.00")
    assert (currency, status) == ("CAD", "active")
    assert money_of('{"breakdown": ' + breakdown + "}") == RUNBOOK_BREAKDOWN
    assert validity == timedelta(days=7)
    assert expires_at == created_at + timedelta(days=7)
    assert parse_utc(body["expires_at"]) == expires_at
    assert before is not None and after is not None
    assert before[0] <= created_at <= after[0]


async def test_each_quote_is_its_own_row(quotes_db: str, function: str) -> None:
    request = {**RUNBOOK_REQUEST, "quantity": 10, "quality": "high", "delivery_speed": "express"}
    first = await post(function, request)
    second = await post(function, RUNBOOK_REQUEST)
    assert first.status_code == second.status_code == 200
    ids = {first.json()["quote_id"], second.json()["quote_id"]}
    assert len(ids) == 2
    with psycopg.connect(quotes_db) as conn:
        rows = conn.execute(
            "SELECT id::text, total, breakdown->>'total' FROM public.quotes ORDER BY total"
        ).fetchall()
    assert {r[0] for r in rows} == ids
    totals = {r[0]: (str(r[1]), r[2]) for r in rows}
    for response in (first, second):
        total = money_of(response.text)["total"]
        assert totals[response.json()["quote_id"]] == (total, total)


async def test_invalid_request_stores_nothing(quotes_db: str, function: str) -> None:
    response = await post(function, {**RUNBOOK_REQUEST, "grams": -5})
    assert response.status_code == 400
    assert response.json()["field"] == "grams"
    with psycopg.connect(quotes_db) as conn:
        assert conn.execute("SELECT count(*) FROM public.quotes").fetchone() == (0,)


async def test_database_without_quotes_table_is_a_503(shim_db: str, tmp_path: Path) -> None:
    host = await _serve(shim_db, tmp_path / "data")
    try:
        response = await post(f"{host.url}/functions/v1/calculate-quote", RUNBOOK_REQUEST)
    finally:
        await host.stop()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "error" in response.json()
