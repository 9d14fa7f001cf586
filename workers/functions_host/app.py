"""The function host: serves one environment's active release at /functions/v1/<slug>.

A trusted Python process: it routes, checks callers as Supabase's gateway does (the JWT,
for functions with `verify_jwt`), answers health and metrics, and follows the active
release. Each function runs in Deno inside its own sandbox (deno_runtime); the host
proxies the request to it over a unix socket, with the path as Supabase passes it
(`/<slug>/<rest>?<query>`). The routing table is one reference (`current`), replaced whole
when a release is activated, so a request sees either the old release or the new one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.functions_host.auth import BearerCheck
from workers.functions_host.deno_runtime import FunctionEnvironment
from workers.functions_host.metrics import RequestMetrics
from workers.functions_host.releases import (
    LoadedFunction,
    LoadedRelease,
    database_identity,
    unload_release,
)
from workers.functions_host.watcher import ReleaseWatcher

log = logging.getLogger("deploybot.functions_host")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/functions/v1/"
# Hop-by-hop headers (RFC 9110 7.6.1) stay on their side of the proxy.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                         b"proxy-authorization", b"te", b"trailer", b"transfer-encoding",
                         b"upgrade", b"proxy-connection"})


class FunctionsHost:
    """An ASGI app; run it with uvicorn (lifespan "on": it starts the release watcher)."""

    def __init__(
        self,
        *,
        database_url: str,
        anon_key: str,
        jwt_secret: str | None = None,
        service_key: str | None = None,
        public_url: str = "http://127.0.0.1:54321",
        data_dir: Path = Path(".deploybot"),
        poll_interval: float = 5.0,
        metrics_size: int = 10_000,
    ) -> None:
        if not anon_key:
            raise ValueError("the function host needs an anon key to check requests against")
        self._bearer = BearerCheck(jwt_secret, [k for k in (anon_key, service_key) if k])
        self.cache_root = Path(data_dir) / "function-cache" / database_identity(database_url)
        # What functions find in their environment, as on Supabase, and nothing else.
        self.function_env = FunctionEnvironment(database_url=database_url, anon_key=anon_key,
                                                public_url=public_url,
                                                service_key=service_key)
        self.current: LoadedRelease | None = None  # None until the first load
        self.started_at = time.time()
        self.metrics = RequestMetrics(metrics_size)
        self.watcher = ReleaseWatcher(database_url, self.cache_root, self.function_env,
                                      self._switch, poll_interval=poll_interval)
        self._watch_task: asyncio.Task[None] | None = None
        self._unloads: set[asyncio.Task[None]] = set()
        self._admin = Starlette(routes=[
            Route("/_deploybot/health", self._health, methods=["GET", "HEAD"]),
            Route("/_deploybot/metrics", self._metrics, methods=["GET"]),
        ])

    def __repr__(self) -> str:  # keep the keys and URL out of reprs and logs
        return f"FunctionsHost(cache={self.cache_root})"

    # ----------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and (
            scope["path"].startswith(PREFIX) or scope["path"] == PREFIX.rstrip("/")
        ):
            await self._function(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/_deploybot/"):
            await self._admin(scope, receive, send)
        elif scope["type"] == "http":
            await _json(send, 404, {"code": "NOT_FOUND", "message": "Not found"})
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("function host failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        # Not waiting for the first load here: health answers 503 ("starting") until it is
        # done, which is what callers wait for, and the server stays stoppable meanwhile.
        self._watch_task = asyncio.create_task(self.watcher.run(), name="release-watcher")

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        old, self.current = self.current, None
        if old is not None:
            await unload_release(old, drain_s=5.0)
        await asyncio.gather(*self._unloads, return_exceptions=True)

    async def _switch(self, release: LoadedRelease) -> None:
        """Make `release` the one served; the old one is unloaded once its requests end."""
        old, self.current = self.current, release
        log.warning("serving function release %s (%s)", release.id,
                    ", ".join(sorted(release.functions)) or "no functions")
        if old is not None:
            task = asyncio.create_task(unload_release(old))
            self._unloads.add(task)
            task.add_done_callback(self._unloads.discard)

    # ----------------------------------------------------------------------- functions

    async def _function(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rest = scope["path"][len(PREFIX):]
        slug = rest.partition("/")[0]
        status = 500
        release = self.current

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            fn = release.functions.get(slug) if release is not None else None
            # Unknown slugs are checked like the default (verify_jwt): no probing for names.
            if fn is None or fn.verify_jwt:
                header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
                refusal = self._bearer.refusal(header)
                if refusal is not None:
                    await _json(tracking_send, 401, {"code": 401, "message": refusal})
                    return
            if release is None:
                await _json(tracking_send, 503, {
                    "code": "NOT_READY", "message": "no function release is loaded yet"})
                return
            if fn is None:
                await _json(tracking_send, 404, {
                    "code": "NOT_FOUND", "message": "Requested function was not found"})
                return
            release.enter()
            try:
                await self._proxy(fn, release, scope, receive, tracking_send)
            finally:
                release.leave()
        finally:
            self.metrics.record(slug, status, (time.perf_counter() - started) * 1000)

    async def _proxy(self, fn: LoadedFunction, release: LoadedRelease, scope: Scope,
                     receive: Receive, send: Send) -> None:
        runtime = fn.runtime
        if runtime is not None and not runtime.running:
            await runtime.revive()
        if runtime is None or runtime.client is None or fn.error is not None:
            await _json(send, 500, {
                "code": "FUNCTION_UNAVAILABLE",
                "message": f"function {fn.slug} of release {release.id} could not be loaded"})
            return
        raw = scope.get("raw_path")
        if not isinstance(raw, bytes) or not raw.startswith(PREFIX.encode()):
            raw = scope["path"].encode()
        path = raw[len(PREFIX) - 1:]  # "/<slug>/<rest>", as Supabase passes it on
        if scope.get("query_string"):
            path += b"?" + scope["query_string"]
        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP_BY_HOP]
        request = runtime.client.build_request(
            scope["method"], httpx.URL("http://function" + path.decode("latin-1")),
            headers=headers, content=_request_body(receive))
        try:
            response = await runtime.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("function %s (release %s) did not answer: %r", fn.slug, release.id,
                        exc)
            await _json(send, 502, {"code": "FUNCTION_ERROR",
                                    "message": "the function did not answer"})
            return
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw
                                    if k.lower() not in _HOP_BY_HOP]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except httpx.HTTPError as exc:  # the response has started: all we can do is stop
            log.warning("function %s (release %s) broke off its answer: %r", fn.slug,
                        release.id, exc)
        finally:
            await response.aclose()

    # ----------------------------------------------------------------------- admin

    async def _health(self, request: Request) -> Response:
        ready = self.current is not None
        return JSONResponse({
            "status": "ok" if ready else "starting",
            "ready": ready,
            "release": self.current.describe() if self.current else None,
            "started_at": self.started_at,
            "pid": os.getpid(),
            "watcher": self.watcher.status(),
        }, status_code=200 if ready else 503)

    async def _metrics(self, request: Request) -> Response:
        since: float | None = None
        try:
            if "since" in request.query_params:
                since = float(request.query_params["since"])
            elif "window" in request.query_params:
                since = time.time() - float(request.query_params["window"])
        except ValueError:
            return JSONResponse({"code": "BAD_REQUEST", "message":
                                 "since (unix seconds) and window (seconds) must be numbers"},
                                status_code=400)
        body = self.metrics.summary(since)
        body["release"] = ({"id": self.current.id, "commit": self.current.commit}
                           if self.current else None)
        return JSONResponse(body)


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the caller went away
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


async def _json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
