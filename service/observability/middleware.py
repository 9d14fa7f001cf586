"""The web process's share of observability: the log context of each request (the delivery
id of a webhook), the webhook endpoint's answers and unhandled errors counted in Redis."""

from __future__ import annotations

import logging
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability import logs, shared

log = logging.getLogger(__name__)
_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")  # a GUID; anything else is not logged


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        fields: dict[str, str] = {}
        if path == "/webhooks":
            delivery = Headers(scope=scope).get("x-github-delivery", "").strip()
            if _DELIVERY.match(delivery):
                fields["delivery_id"] = delivery
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        token = logs.bind(**fields)
        try:
            await self.app(scope, receive, watch)
        except Exception:
            await self._count(scope, "errors_total", {"component": "web", "where": _route(scope)})
            raise
        finally:
            logs.reset(token)
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
