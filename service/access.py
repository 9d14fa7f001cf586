"""Who may read what the web process serves outside the dashboard's pages.

- `GET /api/deployments`: a dashboard session (a GitHub sign-in sees the repositories GitHub
  said it can read; the operator's token sign-in sees all), or a bearer token — the API
  token (`DEPLOYBOT_API_TOKEN`) or the dashboard's sign-in token — which sees all. No one
  else: repositories, commits, requesters and pull requests are not for strangers.
- `GET /metrics`: its bearer token (`DEPLOYBOT_METRICS_TOKEN`) when one is set; without one,
  only when the server listens on loopback alone (then only this machine can ask).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from service.dashboard import session
from service.permissions import rank
from service.web_state import web_state


def is_loopback(host: str | None) -> bool:
    """Whether a bind address reaches this machine only (`127.0.0.1`, `::1`, `localhost`).
    Unknown (None), a wildcard (`0.0.0.0`, `::`) or any other name is not."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _matches(sent: str, *tokens: str) -> bool:
    # every token compared (constant time each), so timing does not tell which one is set
    found = False
    for token in tokens:
        if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
            found = True
    return found


@dataclass(frozen=True)
class Reader:
    """Who reads the API: everything (`repos` None) or these repositories (lower case)."""

    who: str
    repos: frozenset[str] | None


def _refused(message: str, status_code: int = 401) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code,
                        headers={"WWW-Authenticate": 'Bearer realm="deploybot"'})


async def api_reader(request: Request) -> Reader | Response:
    """The caller of the API, or the 401 that tells them how to authenticate."""
    state = web_state(request)
    sent = bearer(request)
    if sent:
        if _matches(sent, state.api_token, state.dashboard.token):
            return Reader("token", None)
        return _refused("That bearer token is not this server's API token "
                        "(DEPLOYBOT_API_TOKEN) nor its dashboard sign-in token.")
    viewer = await session.load(state.redis, state.prefix, request.cookies.get(session.COOKIE))
    if viewer is None:
        return _refused("Sign in to the dashboard, or send `Authorization: Bearer <token>` "
                        "with the server's API token (DEPLOYBOT_API_TOKEN).")
    if viewer.operator:
        return Reader(viewer.login, None)
    if viewer.age() >= state.dashboard.view_permission_seconds:
        return _refused("Your dashboard sign-in's GitHub permissions are over an hour old: "
                        "sign in again (/auth/github) and repeat the request.")
    readable = frozenset(r for r, level in viewer.permissions.items()
                         if rank(level) >= rank("read"))
    return Reader(viewer.login, readable)


def metrics_refusal(request: Request) -> Response | None:
    """None when this request may read /metrics, else the answer that says why not."""
    state = web_state(request)
    token = state.metrics_token
    if token:
        if _matches(bearer(request), token):
            return None
        return PlainTextResponse("metrics need `Authorization: Bearer <token>` "
                                 "(DEPLOYBOT_METRICS_TOKEN)\n", status_code=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if state.loopback_only:
        return None
    return PlainTextResponse(
        "metrics are off: this server listens beyond loopback and DEPLOYBOT_METRICS_TOKEN "
        "is not set. Set DEPLOYBOT_METRICS_TOKEN and scrape with `Authorization: Bearer "
        "<token>`, or serve on 127.0.0.1 only.\n", status_code=403)
