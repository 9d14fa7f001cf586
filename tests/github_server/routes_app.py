"""App (JWT) endpoints: the App itself, installation tokens, webhook deliveries."""

from __future__ import annotations

import secrets
import string

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .auth import require_app
from .common import base_url, context, page_params, valid_body
from .errors import ApiError
from .state import TokenRecord, iso, public
from .webhooks import redeliver

_ALPHABET = string.ascii_letters + string.digits


def _app_json(request: Request) -> dict[str, object]:
    state = context(request).state
    return {"id": state.app_id, "slug": state.app_slug, "name": state.app_slug,
            "node_id": f"A_{state.app_id}", "owner": {"login": "3d3d", "type": "Organization"},
            "html_url": f"https://github.com/apps/{state.app_slug}"}


async def get_app(request: Request) -> JSONResponse:
    ctx = context(request)
    require_app(request, ctx.state, ctx.public_key)
    return JSONResponse(_app_json(request))


async def access_token(request: Request) -> JSONResponse:
    ctx = context(request)
    require_app(request, ctx.state, ctx.public_key)
    installation_id = int(request.path_params["installation_id"])
    await valid_body(request, "access_token")
    state = ctx.state
    if installation_id not in state.installations:
        raise ApiError(404, "Not Found")
    token = "ghs_" + "".join(secrets.choice(_ALPHABET) for _ in range(state.token_length))
    record = TokenRecord(token, installation_id, state.now() + state.token_ttl)
    with state.lock:
        state.tokens[token] = record
        state.tokens_minted.append(record)
    return JSONResponse({"token": token, "expires_at": iso(record.expires_at),
                         "permissions": {"checks": "write", "contents": "read"},
                         "repository_selection": "all"}, status_code=201)


def _cursor_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor.removeprefix("v1_"))
    except ValueError:
        raise ApiError(422, "invalid cursor") from None


async def list_deliveries(request: Request) -> JSONResponse:
    """Newest first, `per_page` at a time; the next page's cursor is in `Link: rel="next"`."""
    ctx = context(request)
    require_app(request, ctx.state, ctx.public_key)
    _, per_page = page_params(request)
    after = _cursor_id(request.query_params.get("cursor"))
    items = sorted(ctx.state.deliveries, key=lambda d: d["id"], reverse=True)
    if after is not None:
        items = [d for d in items if d["id"] < after]
    chunk = items[:per_page]
    headers = {}
    if len(items) > per_page:
        nxt = f"{base_url(request)}/app/hook/deliveries?per_page={per_page}" \
              f"&cursor=v1_{chunk[-1]['id']}"
        headers["link"] = f'<{nxt}>; rel="next"'
    return JSONResponse([public(d) for d in chunk], headers=headers)


def _delivery(request: Request) -> dict[str, object]:
    ctx = context(request)
    require_app(request, ctx.state, ctx.public_key)
    wanted = int(request.path_params["delivery_id"])
    for delivery in ctx.state.deliveries:
        if delivery["id"] == wanted:
            return delivery
    raise ApiError(404, "Not Found")


async def get_delivery(request: Request) -> JSONResponse:
    delivery = _delivery(request)
    sent = delivery["_request"]
    return JSONResponse({**public(delivery), "request": sent,
                         "response": {"headers": {}, "payload": None}})


async def redeliver_attempt(request: Request) -> JSONResponse:
    delivery = _delivery(request)
    state = context(request).state
    with state.lock:
        state.redelivery_attempts.append(int(request.path_params["delivery_id"]))
    return JSONResponse({}, status_code=202, background=BackgroundTask(redeliver, state,
                                                                       delivery))


routes = [
    Route("/app", get_app, methods=["GET"]),
    Route("/app/installations/{installation_id:int}/access_tokens", access_token,
          methods=["POST"]),
    Route("/app/hook/deliveries", list_deliveries, methods=["GET"]),
    Route("/app/hook/deliveries/{delivery_id:int}", get_delivery, methods=["GET"]),
    Route("/app/hook/deliveries/{delivery_id:int}/attempts", redeliver_attempt,
          methods=["POST"]),
]
