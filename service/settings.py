"""Process settings, read once from the environment.

Unset DATABASE_URL / REDIS_URL mean the embedded default (DESIGN.md): servers of our own
under the data directory. The GitHub App settings are needed only by `serve` and `worker`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class GitHubAppSettings:
    app_id: str
    private_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_url: str = "https://api.github.com"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    redis_prefix: str = "deploybot:"

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
        )


def github_app_from_env(env: dict[str, str] | None = None) -> GitHubAppSettings:
    """The App's credentials; a missing one fails with the variable's name."""
    e = os.environ if env is None else env
    missing = [n for n in ("GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET") if not e.get(n)]
    key = e.get("GITHUB_PRIVATE_KEY")
    key_path = e.get("GITHUB_PRIVATE_KEY_PATH")
    if not key and not key_path:
        missing.append("GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)")
    if missing:
        raise SettingsError("missing setting(s): " + ", ".join(missing))
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
    )
