"""What every route uses: the server context, validated bodies, pagination."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import ApiError
from .faults import Faults
from .state import JSON, ServerState, ValidationFailure
from .validation import validate


@dataclass
class ServerContext:
    state: ServerState
    faults: Faults
    public_key: str


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None


async def valid_body(request: Request, operation: str) -> JSON:
    """The JSON body if githubkit's model of it accepts it; else 422 (and recorded)."""
    body = await read_json(request)
    errors = validate(operation, body)
    if errors:
        context(request).state.validation_errors.append(
            ValidationFailure(request.method, request.url.path, errors))
        detail = "\n".join(f"- {e['message']}" for e in errors)
        raise ApiError(422, f"Invalid request.\n\n{detail}", errors)
    assert isinstance(body, dict)
    return body


def page_params(request: Request) -> tuple[int, int]:
    try:
        per_page = min(100, max(1, int(request.query_params.get("per_page", 30))))
        page = max(1, int(request.query_params.get("page", 1)))
    except ValueError:
        raise ApiError(422, "page and per_page must be numbers") from None
    return page, per_page


def paginated(request: Request, items: list[Any], *, key: str | None = None,
              extra: JSON | None = None, status: int = 200) -> JSONResponse:
    """One page of `items` with GitHub's `Link` header (`rel="next"`, `rel="last"`)."""
    page, per_page = page_params(request)
    chunk = items[(page - 1) * per_page: page * per_page]
    last = max(1, -(-len(items) // per_page))
    links = []
    if page < last:
        links.append(f'<{request.url.include_query_params(page=page + 1, per_page=per_page)}>; '
                     'rel="next"')
        links.append(f'<{request.url.include_query_params(page=last, per_page=per_page)}>; '
                     'rel="last"')
    headers = {"link": ", ".join(links)} if links else {}
    body: Any = chunk if key is None else {**(extra or {}), key: chunk}
    return JSONResponse(body, status_code=status, headers=headers)
