"""/setup: register the GitHub App from the manifest on first start (until then POST
/webhooks answers 503: service/webhooks/intake.py).

Only the operator (signed in with the token `deploybot serve` printed) may start the
registration, and GitHub's redirect back must carry the state this server issued. The page
afterwards names the App and links to its installation — it never shows a secret."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.dashboard.web import current_viewer, login_redirect, problem, render
from service.observability.redact import register
from service.setup import credentials, manifest
from service.setup.exchange import SetupError, convert
from service.web_state import SetupState, WebState, any_state

log = logging.getLogger(__name__)
STATE_SECONDS = 3600


async def _remember_state(request: Request, value: str) -> None:
    state = any_state(request)
    if isinstance(state, WebState):
        await state.redis.set(f"{state.prefix}setup:{value}", "1", ex=STATE_SECONDS)
    else:  # `deploybot setup`'s own little server: one process, no Redis
        state.states.add(value)


async def _take_state(request: Request, value: str) -> bool:
    state = any_state(request)
    if not value:
        return False
    if isinstance(state, WebState):
        return await state.redis.getdel(f"{state.prefix}setup:{value}") is not None
    if value in state.states:
        state.states.discard(value)
        return True
    return False


def _setup_url(request: Request) -> str:
    cfg = any_state(request).dashboard
    return (cfg.public_url or str(request.base_url)).rstrip("/") + "/setup"


def _done_page(request: Request, stored: dict[str, Any] | None, *, created: bool) -> Response:
    info = credentials.public_view(stored) if stored else None
    return render(request, "setup.html", done=True, created=created, app=info,
                  install_url=(f"{info['html_url']}/installations/new"
                               if info and info.get("html_url") else ""),
                  manifest_json="", action="", org="")


async def _operator(request: Request) -> Response | None:
    if isinstance(any_state(request), SetupState):
        return None  # `deploybot setup`: reachable on loopback by whoever ran it
    viewer = await current_viewer(request)
    if viewer is None:
        return login_redirect(request)
    if not viewer.operator:
        return problem(request, 403, "Only the operator sets deploybot up",
                       "Sign in with the token `deploybot serve` printed to register the App.")
    return None


async def setup_page(request: Request) -> Response:
    state = any_state(request)
    cfg = state.dashboard
    if state.webhook_secret:
        stored = credentials.stored(cfg.data_dir) if cfg.data_dir else None
        return _done_page(request, stored, created=False)
    refused = await _operator(request)
    if refused is not None:
        return refused
    try:
        data = manifest.load(cfg.manifest_path)
    except manifest.ManifestError as exc:
        return problem(request, 500, "The App manifest is missing", str(exc))
    setup = state if isinstance(state, SetupState) else None
    org = (request.query_params.get("org") or (setup.org if setup else "")).strip()
    public = (setup.public_url_for_hooks if setup else "") or cfg.public_url or str(
        request.base_url)
    prepared = manifest.prepared(data, public_url=public.rstrip("/"),
                                 setup_url=_setup_url(request))
    value = secrets.token_urlsafe(24)
    await _remember_state(request, value)
    return render(request, "setup.html", done=False, created=False, app=None, install_url="",
                  manifest_json=manifest.as_json(prepared), org=org,
                  loopback=manifest.is_loopback(public),
                  action=manifest.form_action(cfg.github_web_url, value, org or None))


async def setup_callback(request: Request) -> Response:
    state = any_state(request)
    cfg = state.dashboard
    if state.webhook_secret:
        return _done_page(request, credentials.stored(cfg.data_dir) if cfg.data_dir else None,
                          created=False)
    refused = await _operator(request)
    if refused is not None:
        return refused
    if not await _take_state(request, request.query_params.get("state", "")):
        return problem(request, 400, "This registration did not start here",
                       "GitHub's answer does not carry the state this server issued (or it "
                       "was used already). Start again from /setup.", back="/setup")
    if cfg.data_dir is None:
        return problem(request, 500, "Nowhere to store the credentials",
                       "This server has no data directory; set DEPLOYBOT_DATA_DIR.")
    try:
        answer = await convert(cfg.github_api_url, request.query_params.get("code", ""))
        stored = credentials.store(cfg.data_dir, answer, api_url=cfg.github_api_url)
    except (SetupError, ValueError) as exc:
        return problem(request, 502, "GitHub did not hand over the App", str(exc),
                       back="/setup")
    register(stored["private_key"], stored["webhook_secret"], stored["client_secret"])
    state.webhook_secret = stored["webhook_secret"]
    state.dashboard = dataclasses.replace(cfg, client_id=stored["client_id"],
                                          client_secret=stored["client_secret"])
    if isinstance(state, SetupState):
        state.on_done(stored)
    log.info("GitHub App %s (id %s) registered; credentials stored in %s",
             stored.get("slug"), stored["app_id"], credentials.path(cfg.data_dir))
    return _done_page(request, stored, created=True)


routes = [
    Route("/setup", setup_page, methods=["GET"]),
    Route("/setup/callback", setup_callback, methods=["GET"]),
]
