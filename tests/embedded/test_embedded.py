"""The embedded default: servers of our own, reused by a second process, reachable on TCP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import redis

from service import embedded


def test_servers_start_persist_and_are_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    services = embedded.start(data)
    try:
        url = embedded.ensure_environment_database(services, "staging")
        # TCP for CLI and GUI clients, as the environment's own least-privilege role
        assert url.startswith("postgresql://staging_owner:")
        assert "@127.0.0.1:" in url
        with psycopg.connect(url) as conn:
            assert conn.info.parameter_status("is_superuser") == "off"
            version = conn.execute("SHOW server_version_num").fetchone()
            assert version is not None and int(version[0]) >= 180000
            # the shim makes it look like a Supabase project
            roles = {r[0] for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname IN "
                "('anon', 'authenticated', 'service_role')")}
            assert roles == {"anon", "authenticated", "service_role"}
            assert conn.execute("SELECT auth.uid() IS NULL").fetchone() == (True,)
        r = redis.Redis.from_url(services.redis_url)
        r.set("kept", "yes")
        r.close()
        # a second process finds the running servers instead of starting new ones
        code = (
            "from pathlib import Path; from service import embedded;"
            f"s = embedded.start(Path({str(data)!r})); print(s.postgres.port, s.redis.port)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        assert out == [str(services.postgres.port), str(services.redis.port)]
        # Redis keeps its data across a restart (append-only file)
        assert services.redis.stop()
        services.redis.ensure_running()
        r = redis.Redis.from_url(services.redis_url)
        assert r.get("kept") == b"yes"
        r.close()
    finally:
        services.redis.stop()
        services.postgres.stop()
    assert not services.postgres.is_running()
