"""The App's credentials as GitHub returned them from the manifest conversion, stored where
the settings read them (service.settings.stored_app_credentials): a 0600 file under the data
directory, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.settings import APP_CREDENTIALS_FILE

KEPT = ("id", "slug", "name", "client_id", "client_secret", "webhook_secret", "pem",
        "html_url")


def path(data_dir: Path) -> Path:
    return data_dir / APP_CREDENTIALS_FILE


def stored(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def public_view(data: dict[str, Any]) -> dict[str, Any]:
    """What may be shown: never the key or the secrets."""
    return {k: data.get(k) for k in ("app_id", "slug", "name", "html_url", "created_at")}


def store(data_dir: Path, conversion: dict[str, Any], *, api_url: str) -> dict[str, Any]:
    """Write the credentials (a 0600 file); returns what was stored."""
    missing = [k for k in ("id", "pem", "webhook_secret") if not conversion.get(k)]
    if missing:
        raise ValueError(f"GitHub's answer lacks {', '.join(missing)}")
    data = {
        "app_id": str(conversion["id"]), "slug": conversion.get("slug"),
        "name": conversion.get("name"), "html_url": conversion.get("html_url"),
        "client_id": conversion.get("client_id") or "",
        "client_secret": conversion.get("client_secret") or "",
        "webhook_secret": conversion["webhook_secret"], "private_key": conversion["pem"],
        "api_url": api_url.rstrip("/"),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # The file alone is private: the data directory must stay traversable (the embedded
    # PostgreSQL runs as its own user under it).
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".github-app-", dir=data_dir)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path(data_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return data
