"""Signing in and out: with GitHub (the App's OAuth client; the person then sees only the
repositories GitHub says they can read), or with the sign-in token `deploybot serve` prints
on the embedded default (the operator: every repository, every action)."""

from __future__ import annotations

import hmac
import logging
import secrets
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard import github_oauth, session
from service.dashboard.session import Viewer
from service.dashboard.web import (
    checked_form,
    config,
    cross_site,
    current_viewer,
    form,
    problem,
    render,
    safe_next,
    set_session_cookie,
)
from service.observability import shared
from service.web_state import web_state

log = logging.getLogger(__name__)
STATE_COOKIE = "deploybot_oauth"
STATE_SECONDS = 600


def _callback_url(request: Request) -> str:
    base = config(request).public_url or str(request.base_url)
    return base.rstrip("/") + "/auth/callback"


def _login_page(request: Request, *, error: str = "", status_code: int = 200,
                next_path: str = "/") -> Response:
    cfg = config(request)
    return render(request, "login.html", status_code=status_code, error=error,
                  next_path=next_path, github_sign_in=cfg.github_sign_in,
                  token_sign_in=bool(cfg.token))


async def login(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await current_viewer(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, next_path=next_path)


async def _start_session(request: Request, viewer: Viewer, next_path: str) -> Response:
    state = web_state(request)
    cfg = config(request)
    sid = await session.create(state.redis, state.prefix, viewer, cfg.session_seconds)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, sid)
    response.delete_cookie(STATE_COOKIE, path="/")
    log.info("dashboard sign-in: %s (%s)", viewer.login, viewer.kind)
    return response


async def login_token(request: Request) -> Response:
    cfg = config(request)
    fields = await form(request)
    next_path = safe_next(fields.get("next"))
    if cross_site(request):
        return _login_page(request, status_code=403, next_path=next_path,
                           error="Refused: the sign-in form was sent from another site.")
    if not cfg.token:
        return _login_page(request, status_code=404, next_path=next_path,
                           error="Token sign-in is off on this server.")
    sent = fields.get("token", "").strip()
    if not sent or not hmac.compare_digest(sent.encode(), cfg.token.encode()):
        return _login_page(request, status_code=401, next_path=next_path,
                           error="That is not this server's sign-in token. `deploybot serve` "
                                 "prints it at start (it is also in the data directory's "
                                 "`dashboard-token` file).")
    return await _start_session(request, Viewer(login="operator", kind="token"), next_path)


async def github_start(request: Request) -> Response:
    cfg = config(request)
    if not cfg.github_sign_in:
        return problem(request, 404, "GitHub sign-in is not configured",
                       "Set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the App's OAuth "
                       "client; `deploybot setup` stores them), or sign in with the token.",
                       back="/login")
    state_value = secrets.token_urlsafe(24)
    next_path = safe_next(request.query_params.get("next"))
    await web_state(request).redis.set(f"{web_state(request).prefix}oauth:{state_value}",
                                      next_path, ex=STATE_SECONDS)
    response = RedirectResponse(github_oauth.authorize_url(cfg, _callback_url(request),
                                                           state_value), status_code=303)
    response.set_cookie(STATE_COOKIE, state_value, max_age=STATE_SECONDS, httponly=True,
                        samesite="lax", secure=cfg.secure_cookies, path="/")
    return response


async def github_callback(request: Request) -> Response:
    cfg = config(request)
    app_state = web_state(request)
    if request.query_params.get("error"):
        return _login_page(request, status_code=400,
                           error="GitHub sign-in was cancelled; nothing changed.")
    state_value = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state_value or not code or not cookie or not hmac.compare_digest(
            state_value.encode(), cookie.encode()):
        return _login_page(request, status_code=400,
                           error="This sign-in did not start in this browser (or took over "
                                 "ten minutes). Sign in again.")
    stored = await app_state.redis.getdel(f"{app_state.prefix}oauth:{state_value}")
    if stored is None:
        return _login_page(request, status_code=400,
                           error="This sign-in link was used already or expired. Sign in again.")
    next_path = safe_next(stored.decode() if isinstance(stored, bytes) else str(stored))
    try:
        login_name, repos, calls = await github_oauth.sign_in(cfg, code, _callback_url(request))
    except github_oauth.SignInError as exc:
        await shared.count(app_state.redis, app_state.prefix, "github_errors_total",
                           {"method": "GET", "route": "(sign-in)", "reason": "sign-in"})
        return _login_page(request, status_code=502, error=str(exc), next_path=next_path)
    await shared.count(app_state.redis, app_state.prefix, "github_calls_total",
                       {"method": "GET", "route": "(sign-in)"}, float(calls))
    viewer = Viewer(login=login_name, kind="github", permissions=repos, checked_at=time.time())
    return await _start_session(request, viewer, next_path)


async def logout(request: Request) -> Response:
    viewer = await current_viewer(request)
    if viewer is not None:
        fields = await checked_form(request, viewer)
        if isinstance(fields, Response):
            return fields
        await session.destroy(web_state(request).redis, web_state(request).prefix,
                              request.state.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/")
    return response


routes = [
    Route("/login", login, methods=["GET"]),
    Route("/login/token", login_token, methods=["POST"]),
    Route("/auth/github", github_start, methods=["GET"]),
    Route("/auth/callback", github_callback, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
]
