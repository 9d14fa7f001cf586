"""The App manifest (`app.yml`) made ready for GitHub's manifest flow: this server's URLs
filled in, and the form that sends a person to GitHub to create the App."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

# app.yml sits at the top of the repository; a copy may be given with --manifest.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "app.yml"


class ManifestError(ValueError):
    pass


def load(path: Path | None = None) -> dict[str, Any]:
    where = path or DEFAULT_MANIFEST
    try:
        data = yaml.safe_load(where.read_text())
    except OSError as exc:
        raise ManifestError(f"cannot read the App manifest {where}: {exc.strerror}; "
                            "give its path with --manifest") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data.get("name"):
        raise ManifestError(f"{where}: an App manifest needs at least a `name`")
    return data


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def prepared(manifest: dict[str, Any], *, public_url: str, setup_url: str,
             name: str | None = None) -> dict[str, Any]:
    """The manifest with this server's URLs: webhooks to `public_url`/webhooks, GitHub's
    redirect back to `setup_url`/callback, sign-in callbacks to `public_url`/auth/callback.
    A loopback public URL cannot receive GitHub's webhooks: the hook starts inactive, to be
    pointed at the real address in the App's settings."""
    m = copy.deepcopy(manifest)
    public_url = public_url.rstrip("/")
    if name:
        m["name"] = name
    hook = dict(m.get("hook_attributes") or {})
    hook["url"] = f"{public_url}/webhooks"
    hook["active"] = bool(hook.get("active", True)) and not is_loopback(public_url)
    m["hook_attributes"] = hook
    m["redirect_url"] = f"{setup_url.rstrip('/')}/callback"
    m["callback_urls"] = [f"{public_url}/auth/callback"]
    return m


def form_action(web_url: str, state: str, org: str | None = None) -> str:
    """Where the browser posts the manifest: GitHub's "new App" page (of an organization
    when `org` is given)."""
    base = web_url.rstrip("/")
    where = f"/organizations/{quote(org, safe='')}/settings/apps/new" if org else \
        "/settings/apps/new"
    return f"{base}{where}?state={quote(state, safe='')}"


def as_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, separators=(",", ":"))
