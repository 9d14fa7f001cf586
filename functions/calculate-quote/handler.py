"""The ASGI app: POST a quote request, get a stored, priced quote back.

Every path is treated the same (the function host mounts the app at
/functions/v1/calculate-quote and has already checked the Authorization header).
All input is validated and priced before the database is touched. No input can
produce a 500: bad input is a 400/405/413 JSON error, a database that cannot be
reached (or no SUPABASE_DB_URL) is a 503 JSON error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .pricing import CURRENCY, Breakdown, price_quote
from .storage import (
    StorageNotConfigured,
    StorageUnavailable,
    StoredQuote,
    database_url,
    store_quote,
)
from .validation import BODY, InvalidQuoteRequest, parse_quote_request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


def render_money(amount: Decimal) -> str:
    """A JSON number with exactly two decimals, e.g. `24.00`."""
    return f"{amount:.2f}"


def render_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`, e.g. 2026-01-14T09:30:00.123456Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_breakdown(breakdown: Breakdown) -> str:
    """The breakdown object as JSON text, money rendered with two decimals."""
    parts = ", ".join(f"{json.dumps(name)}: {render_money(v)}" for name, v in breakdown.items())
    return "{" + parts + "}"


def render_quote(stored: StoredQuote, breakdown: Breakdown) -> str:
    """The 200 response body."""
    return (
        "{"
        f'"quote_id": {json.dumps(str(stored.id))}, '
        f'"expires_at": {json.dumps(render_timestamp(stored.expires_at))}, '
        f'"currency": {json.dumps(CURRENCY)}, '
        f'"breakdown": {render_breakdown(breakdown)}'
        "}"
    )


def json_response(
    status: int, content: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(content),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        media_type="application/json",
    )


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    content: dict[str, Any] = {"error": message}
    if field is not None:
        content["field"] = field
    return json_response(status, content, headers)


async def read_body(request: Request) -> bytes | Response:
    """The body, or the error response when it is too large."""
    too_large = error_response(413, f"request body is larger than {MAX_BODY_BYTES} bytes", BODY)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def handle(request: Request) -> Response:
    if request.method != "POST":
        return error_response(
            405,
            f"method {request.method} is not allowed: POST a JSON quote request",
            headers={"Allow": "POST"},
        )
    body = await read_body(request)
    if isinstance(body, Response):
        return body
    try:
        quote_request = parse_quote_request(body)
    except InvalidQuoteRequest as exc:
        content = exc.first.as_json()
        content["errors"] = [error.as_json() for error in exc.errors]
        return json_response(400, content)

    breakdown = price_quote(quote_request)  # validated input is always in the table
    try:
        stored = await store_quote(
            database_url(), quote_request, breakdown, render_breakdown(breakdown)
        )
    except StorageNotConfigured:
        logger.error("calculate-quote: SUPABASE_DB_URL is not set")
        return error_response(
            503,
            "quote storage is not configured (SUPABASE_DB_URL is not set)",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except StorageUnavailable as exc:
        logger.warning("calculate-quote: could not store the quote: %s", exc)
        return error_response(
            503,
            "quote storage is unavailable; please try again shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return Response(
        render_quote(stored, breakdown),
        status_code=200,
        headers={"Cache-Control": "no-store"},
        media_type="application/json",
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point (exported as the package's `app`)."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1003})
        return
    if scope["type"] != "http":
        return
    try:
        response = await handle(Request(scope, receive))
    except ClientDisconnect:
        return
    except Exception:
        logger.exception("calculate-quote: unexpected error")
        response = error_response(500, "internal error while preparing the quote")
    await response(scope, receive, send)
