"""POST /webhooks: verify the signature, record the delivery, enqueue it, answer at once.

No GitHub call and no step runs here (DESIGN.md): the request only writes one row (group
committed with its neighbours) and one Redis job, so it answers in milliseconds. If Redis is
down the delivery is still recorded and acknowledged — the reconciler enqueues it later from
PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from service.webhooks.interest import is_handled, is_urgent
from service.webhooks.payload import MAX_BODY, PayloadError, decode_with_text
from service.webhooks.signature import verify
from service.webhooks.writer import Delivery

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _repo_of(payload: dict[str, Any]) -> str | None:
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else None


def _installation_of(payload: dict[str, Any]) -> int | None:
    inst = payload.get("installation")
    ident = inst.get("id") if isinstance(inst, dict) else None
    ok = isinstance(ident, int) and not isinstance(ident, bool) and 0 < ident < 2**63
    return ident if ok else None  # the column is a bigint


async def receive(request: Request) -> JSONResponse:
    state = request.app.state
    try:
        body = await _read_body(request)
    except BodyTooLarge:
        return _error(413, f"payload larger than {MAX_BODY // (1024 * 1024)} MB")
    if not verify(state.webhook_secret, body, request.headers.get("x-hub-signature-256")):
        return _error(401, "X-Hub-Signature-256 is missing or does not match: check that the "
                           "App's webhook secret equals GITHUB_WEBHOOK_SECRET")
    event = request.headers.get("x-github-event", "").strip()
    delivery_id = request.headers.get("x-github-delivery", "").strip()
    if not event or not delivery_id or len(delivery_id) > 200:
        return _error(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
    try:
        payload, text = decode_with_text(body, request.headers.get("content-type", ""))
    except PayloadError as exc:
        return _error(400, str(exc))
    if event == "ping":
        return JSONResponse({"ok": True, "pong": payload.get("zen", "")})
    raw_action = payload.get("action")
    action = raw_action if isinstance(raw_action, str) else None
    if not is_handled(event, action):
        return JSONResponse({"ignored": f"{event}{'.' + action if action else ''}"},
                            status_code=202)
    # Answered once the delivery is durable; the writer shares the commit with the
    # deliveries arriving meanwhile and enqueues the new ones right after (writer.py).
    new = await state.writer.record(Delivery(
        id=delivery_id, event=event, action=action,
        installation_id=_installation_of(payload), repo=_repo_of(payload), payload=payload,
        payload_text=text, urgent=is_urgent(event, payload)))
    if not new:
        return JSONResponse({"accepted": delivery_id, "duplicate": True}, status_code=202)
    return JSONResponse({"accepted": delivery_id}, status_code=202)
