"""The embedded server's loopback port asks every role for its password. A sandboxed
function may reach that port (its database is there): with `trust` it could log in as the
admin, or as another environment's owner, and read the ledger."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from service import embedded


def test_loopback_needs_each_roles_own_password(tmp_path: Path) -> None:
    services = embedded.start(tmp_path / "data")
    try:
        staging = embedded.ensure_environment_database(services, "staging")
        production = embedded.ensure_environment_database(services, "production")
        port = services.postgres.port
        with psycopg.connect(staging) as conn:  # its own URL works
            assert conn.execute("select current_user").fetchone() == ("staging_owner",)
        as_admin = f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(as_admin, connect_timeout=5).close()
        # staging's code knows staging's password, not production's
        staging_password = str(conninfo_to_dict(staging)["password"])
        other = (f"postgresql://production_owner:{staging_password}@127.0.0.1:{port}/"
                 "production?sslmode=disable")
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(other, connect_timeout=5).close()
        assert conninfo_to_dict(production)["password"] != staging_password
        # the operator's way in: the admin URL, password included, from the data directory
        with psycopg.connect(services.postgres.url(), connect_timeout=5) as conn:
            assert conn.execute("select current_user").fetchone() == ("postgres",)
        assert "postgres@127.0.0.1" in services.postgres.display_url()
    finally:
        services.redis.stop()
        services.postgres.stop()
