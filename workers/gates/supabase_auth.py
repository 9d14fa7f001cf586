"""Leaked password protection of a hosted Supabase project (`password_hibp_enabled` of its
auth config, runbook production step 5): read it, and turn it on when the environment says
`enable_leaked_password_protection: true`. Supabase offers it on Pro plans and up; on the
Free plan the change is refused with 402, and the checklist falls back to a recorded
`/confirm`."""

from __future__ import annotations

from dataclasses import dataclass

from workers.drivers.supabase_api import ManagementApi, SupabaseApiError


@dataclass(frozen=True)
class HibpState:
    enabled: bool
    enabled_now: bool = False  # deploybot turned it on just now
    unavailable: str | None = None  # why the plan cannot have it (the 402's words)


async def leaked_password_protection(api: ManagementApi, *, enable: bool) -> HibpState:
    """The project's setting, enabled first when asked; SupabaseApiError when the API
    cannot be used (the message names the fix)."""
    config = await api.auth_config()
    if config.get("password_hibp_enabled") is True:
        return HibpState(enabled=True)
    if not enable:
        return HibpState(enabled=False)
    try:
        changed = await api.update_auth_config({"password_hibp_enabled": True})
    except SupabaseApiError as exc:
        if exc.status == 402:
            return HibpState(enabled=False, unavailable=str(exc))
        raise
    return HibpState(enabled=changed.get("password_hibp_enabled") is True,
                     enabled_now=changed.get("password_hibp_enabled") is True)
