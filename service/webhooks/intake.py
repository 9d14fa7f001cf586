"""POST /webhooks: verify the signature, record the delivery, enqueue it, answer at once.

No GitHub call and no step runs here (DESIGN.md): the request only writes one row (group
committed with its neighbours) and one Redis job, so it answers in milliseconds. If Redis is
down the delivery is still recorded and acknowledged — the reconciler enqueues it later from
PostgreSQL.

What a request says is decided here, apart from any web framework: the endpoint
(endpoint.py) hands over the headers it read and the body, and sends back the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.webhooks.interest import is_handled, is_urgent
from service.webhooks.payload import MAX_BODY, PayloadError, decode
from service.webhooks.signature import verify
from service.webhooks.writer import Delivery, DeliveryWriter

TOO_LARGE = f"payload larger than {MAX_BODY // (1024 * 1024)} MB"
NOT_SET_UP = "deploybot is not set up yet: open /setup on this server, or run `deploybot setup`"
BAD_SIGNATURE = ("X-Hub-Signature-256 is missing or does not match: check that the "
                 "App's webhook secret equals GITHUB_WEBHOOK_SECRET")
NO_IDS = "X-GitHub-Event and X-GitHub-Delivery headers are required"


@dataclass(frozen=True)
class WebhookHeaders:
    """The request headers the intake reads (the first of each, as Starlette would)."""

    signature: str | None = None  # X-Hub-Signature-256
    event: str = ""  # X-GitHub-Event
    delivery: str = ""  # X-GitHub-Delivery
    content_type: str = ""


Answer = tuple[int, dict[str, Any]]


def _error(status: int, message: str) -> Answer:
    return status, {"error": message}


async def receive(secret: str, writer: DeliveryWriter, headers: WebhookHeaders,
                  body: bytes) -> Answer:
    """The status and JSON answer of one delivery (whose body is within MAX_BODY)."""
    if not secret:  # an empty secret would let anybody sign: refused until /setup
        return _error(503, NOT_SET_UP)
    if not verify(secret, body, headers.signature):
        return _error(401, BAD_SIGNATURE)
    event = headers.event.strip()
    delivery_id = headers.delivery.strip()
    if not event or not delivery_id or len(delivery_id) > 200:
        return _error(400, NO_IDS)
    try:
        payload = decode(body, headers.content_type)
    except PayloadError as exc:
        return _error(400, str(exc))
    if event == "ping":
        return 200, {"ok": True, "pong": payload.zen}
    action = payload.action
    if not is_handled(event, action):
        return 202, {"ignored": f"{event}{'.' + action if action else ''}"}
    # Answered once the delivery is durable; the writer shares the commit with the
    # deliveries arriving meanwhile and enqueues the new ones right after (writer.py).
    new = await writer.record(Delivery(
        id=delivery_id, event=event, action=action, installation_id=payload.installation_id,
        repo=payload.repo, payload_text=payload.text,
        urgent=is_urgent(event, payload.comment_body)))
    if not new:
        return 202, {"accepted": delivery_id, "duplicate": True}
    return 202, {"accepted": delivery_id}
