"""What every dashboard page shares: templates, the signed-in viewer, cross-site request
protection (session CSRF token + Origin check + SameSite cookies), and error pages that
say what went wrong and what to do — never a traceback."""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.dashboard import session, timefmt
from service.dashboard.config import DashboardConfig
from service.dashboard.session import Viewer
from service.observability.redact import redact
from service.web_state import any_state, web_state

TEMPLATES = Path(__file__).with_name("templates")
MAX_FORM = 16 * 1024

STATUS_CLASS = {
    "succeeded": "ok", "up_to_date": "ok", "planned": "info", "running": "run",
    "queued": "wait", "pending": "wait", "failed": "bad", "rolled_back": "undone",
    "rollback_failed": "fatal", "cancelled": "muted", "skipped": "muted", "superseded": "muted",
    "undone": "undone", "undo_failed": "fatal", "done": "ok", "interrupted": "undone",
    "refused": "info",
}
STATUS_TEXT = {"up_to_date": "up to date", "rolled_back": "failed, rolled back",
               "rollback_failed": "rollback failed", "undo_failed": "undo failed"}


def _ticks(text: str) -> Markup:
    """Plain text with `backticked` words shown as code (the rest escaped)."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))  # noqa: S704


def _status_text(status: str | None) -> str:
    return STATUS_TEXT.get(status or "", (status or "").replace("_", " "))


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
env.filters.update({
    "utc": timefmt.utc, "utc_short": timefmt.utc_short, "iso": timefmt.iso,
    "rel": timefmt.relative, "dur": timefmt.duration,
    "redact": redact, "ticks": _ticks, "status_class": lambda s: STATUS_CLASS.get(s or "", "muted"),
    "status_text": _status_text, "short": lambda sha: (sha or "")[:7],
})
env.globals["between"] = timefmt.between


def config(request: Request) -> DashboardConfig:
    return any_state(request).dashboard


def render(request: Request, template: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    cfg = config(request)
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    html = env.get_template(template).render(
        request=request, viewer=viewer, github=cfg.github_web_url.rstrip("/"),
        csrf=viewer.csrf if viewer else "", **context)
    return HTMLResponse(html, status_code=status_code,
                        headers={"Cache-Control": "no-store"})


def problem(request: Request, status_code: int, title: str, message: str,
            back: str = "/") -> HTMLResponse:
    return render(request, "message.html", status_code=status_code, title=title,
                  message=message, back=back)


def safe_next(value: str | None) -> str:
    """A local path to return to after signing in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def current_viewer(request: Request) -> Viewer | None:
    state = web_state(request)
    sid = request.cookies.get(session.COOKIE)
    viewer = await session.load(state.redis, state.prefix, sid)
    request.state.viewer = viewer
    request.state.session_id = sid if viewer else None
    return viewer


def viewer_fresh_for_pages(request: Request, viewer: Viewer) -> bool:
    return viewer.operator or viewer.age() < config(request).view_permission_seconds


def own_origins(request: Request) -> set[str]:
    cfg = config(request)
    found = {_origin(str(request.base_url))}
    if cfg.public_url:
        found.add(_origin(cfg.public_url))
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request: Request) -> bool:
    """True unless the browser says the form came from one of our own pages."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        origin = _origin(referer) if referer else None
    return origin is None or origin.lower() not in own_origins(request)


async def form(request: Request) -> dict[str, str]:
    """A URL-encoded form (the only kind our pages send), first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    # No field of ours holds a NUL, and PostgreSQL text cannot: dropped, not a 500.
    return {k: v[0].replace("\x00", "") for k, v in parsed.items()}


async def checked_form(request: Request, viewer: Viewer) -> dict[str, str] | Response:
    """The form of an action, or the refusal when it may come from another site."""
    if cross_site(request):
        return problem(request, 403, "Refused: cross-site request",
                       "This form did not come from a deploybot page (the browser sent "
                       "another Origin). Open the dashboard and use its buttons.")
    fields = await form(request)
    sent = fields.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
        return problem(request, 403, "Refused: the form expired",
                       "The page's security token does not match your session (it may be "
                       "from before you signed in again). Reload the page and try again.")
    return fields


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    cfg = config(request)
    response.set_cookie(session.COOKIE, session_id, max_age=int(cfg.session_seconds),
                        httponly=True, samesite="lax",
                        secure=cfg.secure_cookies or request.url.scheme == "https", path="/")
