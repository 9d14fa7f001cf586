"""The web process: webhook intake, health checks, the dashboard, /metrics and /setup.

It never runs a step and never calls GitHub inside a request (DESIGN.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service import queue
from service.access import is_loopback
from service.api.deployments import list_deployments
from service.dashboard.config import DashboardConfig
from service.dashboard.headers import SecurityHeaders
from service.dashboard.routes import routes as dashboard_routes
from service.ledger.db import ensure_schema
from service.observability.metrics import metrics_endpoint
from service.observability.middleware import ObservabilityMiddleware
from service.observability.redact import register, register_secrets_in_play
from service.observability.shared import BufferedCounters
from service.openapi import openapi_json
from service.setup.routes import routes as setup_routes
from service.web_state import Lifespan, WebState, web_state
from service.webhooks.endpoint import is_webhook, webhook_endpoint
from service.webhooks.writer import DeliveryWriter


@dataclass(frozen=True)
class WebConfig:
    database_url: str
    redis_url: str
    webhook_secret: str  # "" until the App is set up: /webhooks answers 503, /setup helps
    redis_prefix: str = "deploybot:"
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    # /metrics: its bearer token; "" → open only when `bind_host` is loopback (see access.py)
    metrics_token: str = field(default="", repr=False)
    api_token: str = field(default="", repr=False)  # bearer token of /api/deployments
    bind_host: str | None = None  # where `serve` listens; None (unknown) is not loopback


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> JSONResponse:
    state = web_state(request)
    problems: dict[str, str] = {}
    try:
        async with state.db.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:
        problems["postgres"] = type(exc).__name__
    try:
        await state.redis.ping()
    except Exception as exc:
        problems["redis"] = type(exc).__name__
    if problems:
        return JSONResponse({"ok": False, "unreachable": problems}, status_code=503)
    return JSONResponse({"ok": True})


class WebApp(Starlette):
    """Starlette, with POST /webhooks answered before its middleware and routing: the
    endpoint does itself what they would do for it (service/webhooks/endpoint.py), at about
    half the CPU per delivery. Every other request, and the lifespan, go the usual way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_webhook(scope):
            await webhook_endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(config: WebConfig) -> Starlette:
    # Whatever this process knows of is redacted from its logs and pages.
    register_secrets_in_play(database_urls=[config.database_url, config.redis_url])
    register(config.webhook_secret, config.dashboard.client_secret, config.dashboard.token,
             config.metrics_token, config.api_token)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Lifespan]:
        await ensure_schema(config.database_url)
        pool = AsyncConnectionPool(config.database_url, min_size=1, max_size=10, open=False,
                                   connection_class=AsyncConnection[DictRow],
                                   kwargs={"autocommit": True, "row_factory": dict_row})
        await pool.open(wait=True, timeout=30)
        redis = await queue.connect(config.redis_url)
        state = WebState(
            db=pool, redis=redis, prefix=config.redis_prefix,
            writer=DeliveryWriter(pool, redis, config.redis_prefix),
            counters=BufferedCounters(), dashboard=config.dashboard,
            webhook_secret=config.webhook_secret, metrics_token=config.metrics_token,
            api_token=config.api_token, loopback_only=is_loopback(config.bind_host))
        flusher = asyncio.create_task(state.counters.flush_every(redis, config.redis_prefix))
        try:
            yield {"web": state}
        finally:
            await state.writer.aclose()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await redis.aclose()
            await pool.close()

    return WebApp(
        routes=[
            # Reached by POST only through WebApp's own path above; here so that other
            # methods are told 405, as before.
            Route("/webhooks", webhook_endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/api/deployments", list_deployments, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            *setup_routes,
            *dashboard_routes(),
        ],
        middleware=[Middleware(ObservabilityMiddleware), Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
