"""How the dashboard is reached and who may sign in: GitHub (the App's OAuth client) and/or
a sign-in token (the embedded default prints one at start)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

TOKEN_FILE = "dashboard-token"  # noqa: S105  (a file name)


@dataclass(frozen=True)
class DashboardConfig:
    token: str = field(default="", repr=False)  # sign-in token; "" switches token sign-in off
    client_id: str = ""  # the App's OAuth client; "" switches GitHub sign-in off
    client_secret: str = field(default="", repr=False)
    github_web_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    public_url: str = ""  # how people reach us (https://…); "" → from each request
    data_dir: Path | None = None  # where `deploybot setup` stores the App's credentials
    manifest_path: Path | None = None
    session_seconds: float = 8 * 3600.0
    # Permissions read at sign-in are trusted this long for actions (pages: an hour), then
    # GitHub is asked again by a fresh sign-in round trip.
    action_permission_seconds: float = 600.0
    view_permission_seconds: float = 3600.0

    @property
    def github_sign_in(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


def web_url_for(api_url: str) -> str:
    """GitHub's web address for an API address: github.com for api.github.com, the host of
    a GitHub Enterprise Server's /api/v3, else the same server (the test GitHub server)."""
    api_url = api_url.rstrip("/")
    if urlsplit(api_url).hostname == "api.github.com":
        return "https://github.com"
    return api_url.removesuffix("/api/v3")


def ensure_token(data_dir: Path) -> str:
    """The sign-in token kept under the data directory (0600), made on first use."""
    path = data_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if len(token) >= 20:
            return token
    except OSError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def from_env(data_dir: Path, *, embedded: bool, client_id: str = "", client_secret: str = "",
             api_url: str = "", env: dict[str, str] | None = None) -> DashboardConfig:
    """The dashboard's settings for `deploybot serve`: DEPLOYBOT_PUBLIC_URL,
    DEPLOYBOT_DASHBOARD_TOKEN, GITHUB_WEB_URL / GITHUB_API_URL, and the App's OAuth client.
    Without a token given, one is made (and kept under the data directory) on the embedded
    default and wherever GitHub sign-in is not configured — someone must be able to sign in
    (and to reach /setup)."""
    e = os.environ if env is None else env
    api = (api_url or e.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    token = e.get("DEPLOYBOT_DASHBOARD_TOKEN", "").strip()
    if not token and (embedded or not (client_id and client_secret)):
        token = ensure_token(data_dir)
    return DashboardConfig(
        token=token, client_id=client_id, client_secret=client_secret,
        github_web_url=(e.get("GITHUB_WEB_URL") or web_url_for(api)).rstrip("/"),
        github_api_url=api, public_url=e.get("DEPLOYBOT_PUBLIC_URL", "").rstrip("/"),
        data_dir=data_dir)
