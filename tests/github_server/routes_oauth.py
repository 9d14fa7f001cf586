"""Sign-in with GitHub (the App's OAuth web flow) and App registration from a manifest, as
GitHub serves them: the pages a browser visits and the endpoints the bot calls.

    from tests.github_server.routes_oauth import oauth
    oauth(server.state).add_client("Iv1.test", "secret")   # the App's OAuth client
    oauth(server.state).manifest_pem = server.private_key  # what a conversion hands back

Who signs in is typed into the authorize page (a person's GitHub login); the repositories
they can read come from the permissions set with `state.set_permission`."""

from __future__ import annotations

import html
import json
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .common import context, paginated
from .errors import ApiError
from .state import JSON, ServerState, user

_ALPHABET = string.ascii_letters + string.digits
_ROLE_PERMISSIONS = {
    "admin": ("admin", "maintain", "push", "triage", "pull"),
    "maintain": ("maintain", "push", "triage", "pull"),
    "write": ("push", "triage", "pull"),
    "triage": ("triage", "pull"),
    "read": ("pull",),
}


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


@dataclass
class OAuthState:
    clients: dict[str, str] = field(default_factory=dict)  # client id → secret
    codes: dict[str, JSON] = field(default_factory=dict)  # code → {login, client_id, …}
    user_tokens: dict[str, str] = field(default_factory=dict)  # token → login
    manifests: list[JSON] = field(default_factory=list)  # what browsers posted, in order
    conversions: dict[str, JSON] = field(default_factory=dict)  # code → the new App
    manifest_pem: str = ""
    sign_ins: list[str] = field(default_factory=list)  # logins, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_client(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self.clients[client_id] = client_secret


def oauth(state: ServerState) -> OAuthState:
    """The OAuth and manifest side of a test server's state (kept beside it)."""
    with state.lock:
        found: OAuthState | None = state.__dict__.get("_oauth")
        if found is None:
            found = state.__dict__["_oauth"] = OAuthState()
        return found


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        data = json.loads(body or "{}")
        return {str(k): str(v) for k, v in data.items()}
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def authorize_page(request: Request) -> Response:
    o = oauth(context(request).state)
    client_id = request.query_params.get("client_id", "")
    if client_id not in o.clients:
        return HTMLResponse("<h1>404</h1><p>The client_id is not an OAuth App's.</p>",
                            status_code=404)
    query = html.escape(str(request.url.query))
    return HTMLResponse(f"""<!doctype html><html><head><title>Authorize deploybot</title></head>
<body><h1>Sign in to GitHub to continue to deploybot</h1>
<form method="post" action="/login/oauth/authorize?{query}">
<label>Username <input name="login" id="login_field" autocomplete="username"></label>
<button type="submit" id="authorize">Authorize deploybot</button>
</form></body></html>""")


async def authorize(request: Request) -> Response:
    o = oauth(context(request).state)
    client_id = request.query_params.get("client_id", "")
    redirect_uri = request.query_params.get("redirect_uri", "")
    if client_id not in o.clients or not redirect_uri:
        raise ApiError(404, "Not Found")
    login = (await _form(request)).get("login", "").strip()
    if not login:
        return HTMLResponse("<p>Type a username.</p>", status_code=422)
    code = _random(20)
    with o.lock:
        o.codes[code] = {"login": login, "client_id": client_id, "redirect_uri": redirect_uri}
    target = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(
        {"code": code, "state": request.query_params.get("state", "")})
    return RedirectResponse(target, status_code=302)


async def access_token(request: Request) -> JSONResponse:
    o = oauth(context(request).state)
    data = await _form(request)
    client_id, code = data.get("client_id", ""), data.get("code", "")
    if o.clients.get(client_id) != data.get("client_secret") or not client_id:
        return JSONResponse({"error": "incorrect_client_credentials",
                             "error_description": "The client_id and/or client_secret passed "
                                                  "are incorrect."})
    with o.lock:
        grant = o.codes.pop(code, None)
    if grant is None or grant["client_id"] != client_id:
        return JSONResponse({"error": "bad_verification_code",
                             "error_description": "The code passed is incorrect or expired."})
    if data.get("redirect_uri") and data["redirect_uri"] != grant["redirect_uri"]:
        return JSONResponse({"error": "redirect_uri_mismatch",
                             "error_description": "The redirect_uri does not match."})
    token = "ghu_" + _random(36)
    with o.lock:
        o.user_tokens[token] = grant["login"]
        o.sign_ins.append(grant["login"])
    return JSONResponse({"access_token": token, "token_type": "bearer", "scope": ""})


def _user_login(request: Request) -> str:
    o = oauth(context(request).state)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    login = o.user_tokens.get(value.strip()) if scheme.lower() in ("bearer", "token") else None
    if login is None:
        raise ApiError(401, "Bad credentials")
    return login


async def get_user(request: Request) -> JSONResponse:
    return JSONResponse({**user(_user_login(request)), "name": None})


async def user_repos(request: Request) -> JSONResponse:
    login = _user_login(request).lower()
    state = context(request).state
    items: list[JSON] = []
    for repo in sorted(state.repos.values(), key=lambda r: r.full_name):
        answer = repo.permissions.get(login)
        role = (answer or {}).get("role_name", "none")
        granted = _ROLE_PERMISSIONS.get(role, ("pull",) if answer and role != "none" else ())
        if not granted:
            continue
        perms = {k: k in granted for k in ("admin", "maintain", "push", "triage", "pull")}
        items.append({**repo.json(str(request.base_url).rstrip("/")), "permissions": perms})
    return paginated(request, items)


async def new_app(request: Request) -> Response:
    """The "Register new GitHub App" form a manifest is posted to: GitHub shows it, the
    person confirms, GitHub creates the App and redirects with a code. Here: at once."""
    o = oauth(context(request).state)
    raw = (await _form(request)).get("manifest", "")
    try:
        manifest: Any = json.loads(raw)
    except ValueError:
        return HTMLResponse("<p>Invalid GitHub App manifest: not JSON</p>", status_code=422)
    if not isinstance(manifest, dict) or not manifest.get("name") or not (
            manifest.get("hook_attributes") or {}).get("url"):
        return HTMLResponse("<p>Invalid GitHub App manifest</p>", status_code=422)
    code = _random(20)
    with o.lock:
        o.manifests.append(manifest)
        o.conversions[code] = {"manifest": manifest,
                               "org": request.path_params.get("org")}
    redirect = str(manifest.get("redirect_url") or "")
    if not redirect:
        return HTMLResponse(f"<p>App created; code {code}</p>")
    return RedirectResponse(redirect + ("&" if "?" in redirect else "?") + urlencode(
        {"code": code, "state": request.query_params.get("state", "")}), status_code=302)


async def conversion(request: Request) -> JSONResponse:
    state = context(request).state
    o = oauth(state)
    with o.lock:
        pending = o.conversions.pop(request.path_params["code"], None)
    if pending is None:
        raise ApiError(404, "Not Found")
    manifest = pending["manifest"]
    slug = str(manifest["name"]).lower().replace(" ", "-")
    client_id, client_secret = f"Iv1.{_random(16).lower()}", _random(40)
    o.add_client(client_id, client_secret)
    owner = pending["org"] or "octocat"
    return JSONResponse({
        "id": state.app_id, "slug": slug, "node_id": f"A_{state.app_id}",
        "owner": user(owner), "name": manifest["name"],
        "description": manifest.get("description"),
        "external_url": manifest.get("url"), "html_url": f"https://github.com/apps/{slug}",
        "permissions": manifest.get("default_permissions", {}),
        "events": manifest.get("default_events", []),
        "client_id": client_id, "client_secret": client_secret,
        "webhook_secret": _random(40), "pem": o.manifest_pem,
    }, status_code=201)


routes = [
    Route("/login/oauth/authorize", authorize_page, methods=["GET"]),
    Route("/login/oauth/authorize", authorize, methods=["POST"]),
    Route("/login/oauth/access_token", access_token, methods=["POST"]),
    Route("/user", get_user, methods=["GET"]),
    Route("/user/repos", user_repos, methods=["GET"]),
    Route("/settings/apps/new", new_app, methods=["POST"]),
    Route("/organizations/{org}/settings/apps/new", new_app, methods=["POST"]),
    Route("/app-manifests/{code}/conversions", conversion, methods=["POST"]),
]
