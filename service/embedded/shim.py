"""The platform shim (platform_shim.sql): a plain database made to look like a Supabase one."""

from __future__ import annotations

from pathlib import Path

import psycopg

SHIM_PATH = Path(__file__).with_name("platform_shim.sql")
# The roles the shim creates. Roles are cluster-wide: every environment database of the
# server shares them, so no environment's owner may alter them.
PLATFORM_ROLES = ("anon", "authenticated", "service_role", "authenticator",
                  "supabase_auth_admin", "supabase_storage_admin", "dashboard_user")


def apply_shim(admin_url: str, *, owner: str | None = None) -> None:
    """Apply the shim as the admin (idempotent); `owner` is the environment's owner role,
    given what Supabase's `postgres` role has."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('deploybot.owner_role', %s, false)", (owner or "",))
        conn.execute(SHIM_PATH.read_text().encode())  # a trusted file of ours
