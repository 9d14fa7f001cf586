"""Process settings, read once from the environment.

Unset DATABASE_URL / REDIS_URL mean the embedded default (DESIGN.md): servers of our own
under the data directory. The GitHub App settings are needed only by `serve` and `worker`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where `deploybot setup` stores the App's credentials (0600, under the data directory).
APP_CREDENTIALS_FILE = "github-app.json"


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class GitHubAppSettings:
    app_id: str
    private_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_url: str = "https://api.github.com"
    # The App's OAuth client: dashboard sign-in with GitHub (empty: not configured).
    client_id: str = ""
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    redis_prefix: str = "deploybot:"
    # The Supabase Management API (hosted projects); tests point it at their stand-in.
    supabase_api_url: str = "https://api.supabase.com"
    # The operator's explicit, logged opt-in to environment database URLs that connect as
    # a superuser (refused otherwise); a server setting, never a repository's.
    allow_superuser_databases: bool = False

    @property
    def embedded(self) -> bool:
        """True when the bot runs on its embedded default servers."""
        return self.database_url is None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            # Absolute: tools run with other working directories, and paths get recorded.
            data_dir=Path(e.get("DEPLOYBOT_DATA_DIR", ".deploybot")).resolve(),
            database_url=e.get("DATABASE_URL") or None,
            redis_url=e.get("REDIS_URL") or None,
            redis_prefix=e.get("DEPLOYBOT_REDIS_PREFIX", "deploybot:"),
            supabase_api_url=(e.get("SUPABASE_API_URL") or "https://api.supabase.com"
                              ).rstrip("/"),
            allow_superuser_databases=e.get("DEPLOYBOT_ALLOW_SUPERUSER_DATABASES") == "1",
        )


def data_dir_from_env(env: dict[str, str] | None = None) -> Path:
    e = os.environ if env is None else env
    return Path(e.get("DEPLOYBOT_DATA_DIR", ".deploybot")).resolve()


def stored_app_credentials(data_dir: Path) -> dict[str, Any]:
    """What `deploybot setup` stored, as the environment variables it stands in for."""
    try:
        data = json.loads((data_dir / APP_CREDENTIALS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    names = {"app_id": "GITHUB_APP_ID", "private_key": "GITHUB_PRIVATE_KEY",
             "webhook_secret": "GITHUB_WEBHOOK_SECRET", "client_id": "GITHUB_CLIENT_ID",
             "client_secret": "GITHUB_CLIENT_SECRET", "api_url": "GITHUB_API_URL"}
    return {env: str(data[key]) for key, env in names.items() if data.get(key)}


def github_app_from_env(env: dict[str, str] | None = None) -> GitHubAppSettings:
    """The App's credentials: the environment's, else those `deploybot setup` stored under
    the data directory; a missing one fails with the variable's name."""
    given = os.environ if env is None else env
    stored = stored_app_credentials(data_dir_from_env(dict(given)))
    if given.get("GITHUB_PRIVATE_KEY_PATH"):
        stored.pop("GITHUB_PRIVATE_KEY", None)  # the environment's choice wins
    e = {**stored, **{k: v for k, v in given.items() if v}}
    missing = [n for n in ("GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET") if not e.get(n)]
    key = e.get("GITHUB_PRIVATE_KEY")
    key_path = e.get("GITHUB_PRIVATE_KEY_PATH")
    if not key and not key_path:
        missing.append("GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)")
    if missing:
        raise SettingsError("missing setting(s): " + ", ".join(missing)
                            + "; `deploybot setup` registers the App and stores them")
    if not key:
        try:
            key = Path(str(key_path)).read_text()
        except OSError as exc:
            raise SettingsError(
                f"GITHUB_PRIVATE_KEY_PATH: cannot read the key file ({exc.strerror})"
            ) from None
    return GitHubAppSettings(
        app_id=e["GITHUB_APP_ID"],
        private_key=key,
        webhook_secret=e["GITHUB_WEBHOOK_SECRET"],
        api_url=e.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        client_id=e.get("GITHUB_CLIENT_ID", ""),
        client_secret=e.get("GITHUB_CLIENT_SECRET", ""),
    )
