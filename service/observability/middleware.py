"""The web process's share of observability: answers to /webhooks and unhandled errors
counted in Redis.

POST /webhooks does not come through here: its endpoint counts its answers and errors
itself, and binds the delivery id to the log context when it logs (webhooks/endpoint.py).
What remains counted under `webhook_requests_total` are the other methods' 405s."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability import shared

log = logging.getLogger(__name__)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            await self._count(scope, "errors_total", {"component": "web", "where": _route(scope)})
            raise
        if path == "/webhooks":
            await self._count(scope, "webhook_requests_total", {"status": str(status)})
        elif status >= 500:
            await self._count(scope, "errors_total", {"component": "web", "where": _route(scope)})

    @staticmethod
    async def _count(scope: Scope, metric: str, labels: dict[str, str]) -> None:
        app = scope.get("app")
        state = getattr(app, "state", None)
        counters = getattr(state, "counters", None)
        if counters is not None:  # counted in-process, flushed to Redis about once a second
            counters.add(metric, labels)
            return
        redis = getattr(state, "redis", None)
        if redis is not None:
            await shared.count(redis, getattr(state, "prefix", "deploybot:"), metric, labels)


def _route(scope: Scope) -> str:
    """The route's template, not the path: paths hold ids and would make a label per id."""
    route = scope.get("route")
    return str(getattr(route, "path", "") or "unmatched")
