"""The ASGI endpoint of POST /webhooks: the one request the web process answers thousands
of times a second, so it does only what it needs.

The app factory (service/app.py) sends POST /webhooks here before Starlette's middleware and
routing: those cost about as much CPU per delivery as the intake's own work (signature,
parse, the shared commit). What they did for this request is done here, explicitly:

- the answer counted in `webhook_requests_total` (ObservabilityMiddleware);
- `X-Content-Type-Options` and `Referrer-Policy` on the answer (SecurityHeaders; the
  answer is JSON, so no page policy);
- an unexpected error answered 500, logged with the delivery id and counted in
  `errors_total` (ServerErrorMiddleware, ObservabilityMiddleware); the log context is
  bound only then, not for every request.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from service.observability import logs
from service.web_state import WebState, scope_state
from service.webhooks.intake import NOT_SET_UP, TOO_LARGE, Answer, WebhookHeaders, receive
from service.webhooks.payload import MAX_BODY

log = logging.getLogger(__name__)
_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")  # a GUID; anything else is not logged
_HEADERS = [(b"content-type", b"application/json"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin")]
_ERROR_LABELS = {"component": "web", "where": "/webhooks"}


class ClientGone(Exception):
    """The client hung up before its body arrived: there is no one to answer."""


def _headers(scope: Scope) -> tuple[WebhookHeaders, int | None]:
    """The headers the intake reads and the declared Content-Length, in one pass (the
    first of a repeated header, like Starlette's `Headers.get`)."""
    signature: str | None = None
    event = delivery = content_type = None
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"x-hub-signature-256":
            if signature is None:
                signature = value.decode("latin-1")
        elif name == b"x-github-event":
            if event is None:
                event = value.decode("latin-1")
        elif name == b"x-github-delivery":
            if delivery is None:
                delivery = value.decode("latin-1")
        elif name == b"content-type":
            if content_type is None:
                content_type = value.decode("latin-1")
        elif name == b"content-length" and length is None and value.isdigit():
            length = int(value)
    return WebhookHeaders(signature, event or "", delivery or "", content_type or ""), length


async def _body(receive_message: Receive, declared: int | None) -> bytes | None:
    """The body, or None when it is larger than MAX_BODY (read no further than that)."""
    if declared is not None and declared > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive_message()
        if message["type"] != "http.request":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send: Send, status: int, content: bytes,
                headers: list[tuple[bytes, bytes]] = _HEADERS) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(content)).encode()), *headers]})
    await send({"type": "http.response.body", "body": content})


class WebhookEndpoint:
    """POST /webhooks as an ASGI app (a class: Starlette routes treat a function as a
    request handler); the server's `WebState` (the secret, the writer, the counters) comes
    in the scope's lifespan state."""

    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        state = scope_state(scope)
        headers, declared = _headers(scope)
        started = False
        try:
            result: Answer
            # refused before reading a body it cannot verify
            if state is None or not state.webhook_secret:
                result = 503, {"error": NOT_SET_UP}
            else:
                body = await _body(receive_message, declared)
                result = ((413, {"error": TOO_LARGE}) if body is None
                          else await receive(state.webhook_secret, state.writer, headers,
                                             body))
            started = True
            await _send(send, result[0], _json(result[1]))
        except ClientGone:
            return
        except Exception:
            delivery = headers.delivery.strip()
            with logs.bound(delivery_id=delivery if _DELIVERY.match(delivery) else None):
                log.exception("POST /webhooks failed")
            _count(state, "errors_total", _ERROR_LABELS)
            if started:
                raise  # the answer is half sent: the server closes the connection
            await _send(send, 500, b"Internal Server Error",
                        [(b"content-type", b"text/plain; charset=utf-8"), *_HEADERS[1:]])
            return
        _count(state, "webhook_requests_total", {"status": str(result[0])})


webhook_endpoint = WebhookEndpoint()


def _json(data: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:  # an integer past 64 bits in a ping's `zen`: what Starlette would send
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _count(state: WebState | None, metric: str, labels: dict[str, str]) -> None:
    if state is not None:  # in-process, flushed to Redis about once a second
        state.counters.add(metric, labels)


def is_webhook(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["path"] == "/webhooks"
                and scope["method"] == "POST")

