"""Security headers for every page: a strict Content-Security-Policy (our own scripts and
styles only, no inline script), no framing, no sniffing, no referrer to other sites."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def policy(form_targets: str = "") -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
            f"base-uri 'none'; form-action 'self' {form_targets}".strip())


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    app = scope.get("app")
                    cfg = getattr(getattr(app, "state", None), "dashboard", None)
                    # The setup page posts the manifest to GitHub's "new App" form.
                    github = getattr(cfg, "github_web_url", "") or ""
                    headers.setdefault("Content-Security-Policy", policy(github))
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, add)
