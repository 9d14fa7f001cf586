"""The function host: serves one environment's active release at /functions/v1/<slug>.

Like Supabase's gateway it checks `Authorization: Bearer <key>` before a function runs, and
hands the function the request with the path rewritten to what follows the slug. The
routing table is one reference (`current`), replaced whole when a release is activated, so
a request sees either the old release or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.functions_host.loader import (
    LoadedRelease,
    Message,
    Receive,
    Scope,
    Send,
    database_identity,
    unload_release,
)
from workers.functions_host.metrics import RequestMetrics
from workers.functions_host.watcher import ReleaseWatcher

log = logging.getLogger("deploybot.functions_host")

PREFIX = "/functions/v1/"


class FunctionsHost:
    """An ASGI app; run it with uvicorn (lifespan "on": it starts the release watcher)."""

    def __init__(
        self,
        *,
        database_url: str,
        anon_key: str,
        service_key: str | None = None,
        data_dir: Path = Path(".deploybot"),
        poll_interval: float = 5.0,
        metrics_size: int = 10_000,
        function_env: dict[str, str] | None = None,
    ) -> None:
        if not anon_key:
            raise ValueError("the function host needs an anon key to check requests against")
        self._keys = [k.encode() for k in (anon_key, service_key) if k]
        self.cache_root = Path(data_dir) / "function-cache" / database_identity(database_url)
        # What functions find in their environment, as on Supabase.
        self.function_env = {"SUPABASE_DB_URL": database_url, "SUPABASE_ANON_KEY": anon_key}
        if service_key:
            self.function_env["SUPABASE_SERVICE_ROLE_KEY"] = service_key
        self.function_env.update(function_env or {})
        self.current: LoadedRelease | None = None  # None until the first load
        self.started_at = time.time()
        self.metrics = RequestMetrics(metrics_size)
        self.watcher = ReleaseWatcher(database_url, self.cache_root, self._switch,
                                      poll_interval=poll_interval)
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
        os.environ.update(self.function_env)
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

    def _authorized(self, scope: Scope) -> str | None:
        """None when the bearer key matches, else why not (Supabase's wording)."""
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            return "Missing authorization header"
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        ok = False
        for key in self._keys:  # compare with every key: same time whichever matches
            ok |= hmac.compare_digest(token, key)
        return None if ok and scheme.lower() == b"bearer" else "Invalid JWT"

    async def _function(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rest = scope["path"][len(PREFIX):]
        slug, _, sub = rest.partition("/")
        status = 500
        response_started = False
        release = self.current

        async def tracking_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
            await send(message)

        try:
            refusal = self._authorized(scope)
            if refusal is not None:
                await _json(tracking_send, 401, {"code": 401, "message": refusal})
                return
            if release is None:
                await _json(tracking_send, 503, {
                    "code": "NOT_READY", "message": "no function release is loaded yet"})
                return
            fn = release.functions.get(slug)
            if fn is None:
                await _json(tracking_send, 404, {
                    "code": "NOT_FOUND", "message": "Requested function was not found"})
                return
            if fn.app is None:
                await _json(tracking_send, 500, {
                    "code": "FUNCTION_UNAVAILABLE",
                    "message": f"function {slug} of release {release.id} could not be loaded"})
                return
            child = dict(scope)
            child["path"] = "/" + sub
            child["raw_path"] = _sub_raw_path(scope, slug, child["path"])
            child["state"] = dict(fn.lifespan.state) if fn.lifespan else {}
            release.enter()
            try:
                await fn.app(child, receive, tracking_send)
            except Exception:
                # Logged for the operator; the caller gets no traceback.
                log.exception("function %s (release %s) raised", slug, release.id)
                status = 500
                if not response_started:
                    await _json(send, 500, {"code": "FUNCTION_ERROR",
                                            "message": "the function raised an error"})
            finally:
                release.leave()
        finally:
            self.metrics.record(slug, status, (time.perf_counter() - started) * 1000)

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


def _sub_raw_path(scope: Scope, slug: str, path: str) -> bytes:
    raw = scope.get("raw_path")
    head = (PREFIX + slug).encode()
    if isinstance(raw, bytes) and raw.startswith(head):
        return raw[len(head):] or b"/"
    return path.encode()


async def _json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
