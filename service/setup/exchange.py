"""Trade the code GitHub hands back after creating the App for its credentials:
POST /app-manifests/{code}/conversions (no authentication; the code is single-use and lasts
an hour)."""

from __future__ import annotations

import re
from typing import Any

import httpx

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
API_VERSION = "2022-11-28"


class SetupError(RuntimeError):
    """The manifest flow failed; the message says why and what to do."""


async def convert(api_url: str, code: str, *, wait: float = 20.0) -> dict[str, Any]:
    if not _CODE.match(code or ""):
        raise SetupError("the code GitHub sent back is missing or malformed; start the "
                         "registration again")
    url = f"{api_url.rstrip('/')}/app-manifests/{code}/conversions"
    try:
        async with httpx.AsyncClient(timeout=wait) as client:
            response = await client.post(url, headers={
                "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "deploybot-setup"})
    except httpx.HTTPError as exc:
        raise SetupError(f"cannot reach GitHub at {api_url} ({type(exc).__name__}); "
                         "check the network and GITHUB_API_URL") from None
    if response.status_code == 404:
        raise SetupError("GitHub does not know this code: it is used once and lasts an hour. "
                         "Start the registration again.")
    if response.status_code != 201 and response.status_code != 200:
        raise SetupError(f"GitHub refused the conversion (HTTP {response.status_code}); "
                         "start the registration again")
    data = response.json()
    if not isinstance(data, dict):
        raise SetupError("GitHub's answer to the conversion is not an object")
    return data
