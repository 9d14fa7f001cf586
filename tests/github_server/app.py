"""The test GitHub server's ASGI app: routes, plus a middleware that logs every request,
applies injected faults, checks the API version header and adds rate-limit headers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    routes_app,
    routes_checks,
    routes_deployments,
    routes_issues,
    routes_oauth,
    routes_repos,
    routes_timeline,
)
from .common import ServerContext
from .errors import ApiError, api_error_handler
from .state import RequestRecord

SUPPORTED_API_VERSIONS = ("2022-11-28", "2026-03-10")


def _auth_kind(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if not value:
        return None
    return "jwt" if scheme.lower() == "bearer" and value.count(".") == 2 else "token"


def _parse(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


async def _answer(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json; charset=utf-8"),
           (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class GitHubMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx
        self.reset_at = int(time.time()) + 3600

    def _rate_headers(self, headers: Headers) -> dict[str, str]:
        state = self.ctx.state
        _, _, value = headers.get("authorization", "").partition(" ")
        record = state.tokens.get(value.strip())
        key = record.installation_id if record else 0
        with state.lock:
            used = state.rate_used[key] = state.rate_used.get(key, 0) + 1
        return {"x-ratelimit-limit": str(state.rate_limit),
                "x-ratelimit-remaining": str(max(0, state.rate_limit - used)),
                "x-ratelimit-used": str(used), "x-ratelimit-reset": str(self.reset_at),
                "x-ratelimit-resource": "core"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        record = RequestRecord(scope["method"], scope["path"],
                               scope.get("query_string", b"").decode(), 0,
                               headers.get("x-github-api-version"), _auth_kind(headers), None,
                               _parse(body), time.time())
        # Logged on arrival and filled in as it is answered (status before the first byte
        # goes out), so a test that has its answer also finds it in the log.
        self.ctx.state.record(record)
        await self._handle(scope, receive, send, headers, body, record)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, headers: Headers,
                      body: bytes, record: RequestRecord) -> None:
        rule = self.ctx.faults.take(record.method, record.path)
        late = 0.0
        if rule is not None:
            record.fault = rule.label
            if rule.late:
                late = rule.delay
            elif rule.delay:
                try:
                    message = await asyncio.wait_for(receive(), rule.delay)
                    if message["type"] == "http.disconnect":
                        return  # the client gave up (timeout): nothing to answer
                except TimeoutError:
                    pass
            if rule.status is not None:
                record.status = rule.status
                await _answer(send, rule.status, rule.body_bytes(), rule.headers)
                return
        version = record.api_version
        if version is not None and version not in SUPPORTED_API_VERSIONS:
            record.status = 400
            await _answer(send, 400, json.dumps({
                "message": f"Unsupported 'X-GitHub-Api-Version' header value: {version}. "
                           f"Supported versions are {', '.join(SUPPORTED_API_VERSIONS)}."
            }).encode(), {})
            return
        rate = self._rate_headers(headers) if record.auth else {}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if late:
                    await asyncio.sleep(late)  # done, but the client has given up waiting
                record.status = message["status"]
                out = MutableHeaders(scope=message)
                for name, value in rate.items():
                    out[name] = value
            await send(message)

        await self.app(scope, replay, send_with_headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail, "documentation_url": "https://docs.github.com/rest",
                         "status": str(exc.status_code)}, status_code=exc.status_code)


def build_app(ctx: ServerContext) -> ASGIApp:
    app = Starlette(
        routes=[*routes_app.routes, *routes_repos.routes, *routes_checks.routes,
                *routes_issues.routes, *routes_deployments.routes, *routes_oauth.routes,
                *routes_timeline.routes],
        exception_handlers={ApiError: api_error_handler, HTTPException: _http_error},
    )
    app.state.ctx = ctx
    return GitHubMiddleware(app, ctx)
