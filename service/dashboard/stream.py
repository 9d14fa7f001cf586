"""GET /deployments/{id}/events: a running deployment, live, as server-sent events.

Whichever worker process runs the deployment writes its steps to the ledger; this stream
polls the ledger (every half second, a pooled connection per poll, never held) and sends
what changed:

    reset       the whole deployment (header and steps with their logs) — first, and again
                after a reconnect
    deployment  the header again (status, times, reason)
    step        one step's header (status, message, timing), with its position
    output      new log text of a step (whole lines, secrets redacted)
    end         the deployment reached a final status; the page stops listening
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from service.dashboard import queries
from service.dashboard.web import current_viewer, env
from service.ledger.db import LedgerPool, fetch_all, fetch_one
from service.ledger.deployments import FINAL_STATUSES
from service.ledger.rows import DeploymentRow, StepProgressRow, StepRow, TextRow
from service.observability.redact import redact
from service.web_state import web_state

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 1800.0  # then the browser reconnects (and gets a fresh reset)

_StepMeta = Literal["name", "position", "title", "status", "message", "started_at",
                    "finished_at", "duration_ms", "undo_status", "undo_message"]
_DepMeta = Literal["status", "started_at", "finished_at", "failed_step", "reason",
                   "stop_the_line"]
_STEP_META: tuple[_StepMeta, ...] = (
    "name", "position", "title", "status", "message", "started_at", "finished_at",
    "duration_ms", "undo_status", "undo_message")
_DEP_META: tuple[_DepMeta, ...] = (
    "status", "started_at", "finished_at", "failed_step", "reason", "stop_the_line")


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


def _step_html(step: StepRow | StepProgressRow, now: datetime) -> str:
    return env.get_template("_step_head.html").render(s=step, now=now)


def _head_html(dep: DeploymentRow, now: datetime, github: str) -> str:
    return env.get_template("_dep_head.html").render(dep=dep, now=now, github=github)


async def _meta(conn: psycopg.AsyncConnection[Any], dep_id: int
                ) -> tuple[DeploymentRow | None, list[StepProgressRow]]:
    dep = await fetch_one(conn, DeploymentRow, "SELECT * FROM ledger.deployments WHERE id = %s",
                          (dep_id,))
    steps = await fetch_all(
        conn, StepProgressRow,
        f"""SELECT {', '.join(_STEP_META)}, length(output) AS out_len
            FROM ledger.deployment_steps WHERE deployment_id = %s ORDER BY position""",
        (dep_id,))
    return dep, steps


async def _output_since(conn: psycopg.AsyncConnection[Any], dep_id: int, name: str,
                        offset: int) -> str:
    row = await fetch_one(
        conn, TextRow,
        """SELECT substr(output, %s) AS text FROM ledger.deployment_steps
           WHERE deployment_id = %s AND name = %s""", (offset + 1, dep_id, name))
    return str(row["text"]) if row else ""


async def follow(db: LedgerPool, dep_id: int, *, github: str = "https://github.com",
                 poll: float = POLL_SECONDS) -> AsyncIterator[str]:
    now = datetime.now(UTC)
    async with db.connection() as conn:
        full = await queries.deployment(conn, dep_id)
    if full is None:
        yield sse("end", {"status": "unknown"})
        return
    offsets = {s["name"]: len(s["output"]) for s in full["steps"]}
    seen_steps = {s["name"]: tuple(s[k] for k in _STEP_META) for s in full["steps"]}
    seen_dep = tuple(full[k] for k in _DEP_META)
    yield sse("reset", {
        "status": full["status"], "head": _head_html(full, now, github),
        "steps": [{"name": s["name"], "position": s["position"], "status": s["status"],
                   "head": _step_html(s, now), "output": redact(s["output"])}
                  for s in full["steps"]]})
    if full["status"] in FINAL_STATUSES:
        yield sse("end", {"status": full["status"]})
        return
    started = last_sent = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_SECONDS:
        await asyncio.sleep(poll)
        now = datetime.now(UTC)
        out: list[str] = []  # sent after the connection went back to the pool
        async with db.connection() as conn:
            dep, steps = await _meta(conn, dep_id)
            if dep is None:
                yield sse("end", {"status": "unknown"})
                return
            for s in steps:
                meta = tuple(s[k] for k in _STEP_META)
                if seen_steps.get(s["name"]) != meta:
                    seen_steps[s["name"]] = meta
                    out.append(sse("step", {"name": s["name"], "position": s["position"],
                                            "status": s["status"],
                                            "head": _step_html(s, now)}))
                done = offsets.get(s["name"], 0)
                if s["out_len"] > done:
                    text = await _output_since(conn, dep_id, s["name"], done)
                    offsets[s["name"]] = done + len(text)
                    out.append(sse("output", {"name": s["name"], "text": redact(text)}))
        meta_dep = tuple(dep[k] for k in _DEP_META)
        if meta_dep != seen_dep:
            seen_dep = meta_dep
            out.append(sse("deployment", {"status": dep["status"],
                                          "head": _head_html(dep, now, github)}))
        for chunk in out:
            yield chunk
        if dep["status"] in FINAL_STATUSES:
            yield sse("end", {"status": dep["status"]})
            return
        if out:
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"


async def events(request: Request) -> Response:
    viewer = await current_viewer(request)
    if viewer is None:
        return PlainTextResponse("sign in first", status_code=401)
    dep_id = int(request.path_params["deployment_id"])
    state = web_state(request)
    async with state.db.connection() as conn:
        dep = await queries.deployment(conn, dep_id)
    if dep is None or not viewer.can_read(dep["repo"]):
        return PlainTextResponse("no such deployment", status_code=404)
    github = state.dashboard.github_web_url.rstrip("/")
    return StreamingResponse(follow(state.db, dep_id, github=github),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def routes() -> list[Route]:
    """Built when called: the `{name:id}` convertor is registered first (routes.py)."""
    return [Route("/deployments/{deployment_id:id}/events", events, methods=["GET"])]
