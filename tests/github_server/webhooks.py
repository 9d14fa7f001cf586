"""Sending webhooks to the bot as GitHub does: signed body, event and delivery headers, a
delivery recorded for GET /app/hook/deliveries and POST …/attempts (redelivery keeps the
GUID)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from .state import JSON, ServerState


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post(url: str, secret: str, event: str, payload: JSON | bytes, guid: str
               ) -> int:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid,
               "X-Hub-Signature-256": signature(secret, body),
               "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test"}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        return 0
    return response.status_code


async def send(state: ServerState, event: str, payload: JSON, *, url: str | None = None,
               secret: str | None = None, guid: str | None = None) -> JSON:
    """Deliver one event to `url` (default: state.webhook_target) and record the delivery."""
    target = (url, secret) if url and secret is not None else state.webhook_target
    if target is None:
        raise ValueError("no webhook target: pass url and secret or set state.webhook_target")
    guid = guid or str(uuid.uuid4())
    status = await post(target[0], target[1], event, payload, guid)
    action = payload.get("action") if isinstance(payload, dict) else None
    installation = (payload.get("installation") or {}).get("id", 1)
    return state.add_delivery(event=event, action=action, status_code=status, guid=guid,
                              payload=payload, headers={"X-GitHub-Event": event},
                              installation_id=installation)


async def redeliver(state: ServerState, delivery: JSON) -> None:
    """POST /app/hook/deliveries/{id}/attempts: send it again when a target is set (without
    one the redelivery is recorded as answered 200)."""
    request: dict[str, Any] = delivery["_request"]
    status = 200
    if state.webhook_target is not None:
        url, secret = state.webhook_target
        status = await post(url, secret, str(delivery["event"]), request["payload"],
                            str(delivery["guid"]))
    state.add_delivery(event=str(delivery["event"]), action=delivery.get("action"),
                       status_code=status, guid=str(delivery["guid"]),
                       payload=request["payload"], headers=request["headers"],
                       redelivery=True, installation_id=int(delivery["installation_id"]))
