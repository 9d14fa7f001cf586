"""Leaked password protection through the Supabase Management API (`password_hibp_enabled`
of a project's auth config)."""

from __future__ import annotations

import os

import httpx

API_URL = "https://api.supabase.com"


class SupabaseAuthError(RuntimeError):
    pass


def _api() -> tuple[str, str]:
    token = os.environ.get("SUPABASE_ACCESS_TOKEN", "")
    if not token:
        raise SupabaseAuthError("SUPABASE_ACCESS_TOKEN is not set: it is needed to read the "
                                "project's auth settings")
    return os.environ.get("SUPABASE_API_URL", API_URL).rstrip("/"), token


async def hibp_enabled(project_ref: str) -> bool:
    base, token = _api()
    async with httpx.AsyncClient(timeout=15) as client:
        try:
            r = await client.get(f"{base}/v1/projects/{project_ref}/config/auth",
                                 headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise SupabaseAuthError(f"the Supabase Management API did not answer "
                                    f"({type(exc).__name__})") from None
    if r.status_code != 200:
        raise SupabaseAuthError(f"the Supabase Management API answered {r.status_code} for "
                                f"project {project_ref}")
    return bool(r.json().get("password_hibp_enabled"))


async def enable_hibp(project_ref: str) -> None:
    base, token = _api()
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.patch(f"{base}/v1/projects/{project_ref}/config/auth",
                               headers={"Authorization": f"Bearer {token}"},
                               json={"password_hibp_enabled": True})
    if r.status_code not in (200, 204):
        raise SupabaseAuthError(f"the Supabase Management API refused to enable leaked "
                                f"password protection ({r.status_code})")
