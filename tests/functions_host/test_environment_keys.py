"""Where an environment's JWT secret and anon key come from (workers/environments.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from service.config.load import parse_config
from service.config.model import Config, EnvironmentConfig
from service.settings import Settings
from tests.functions_host.fnhost_helpers import write_function
from workers.drivers.functions import PostgresFunctionReleases
from workers.environments import EnvironmentError_, resolve, resolve_secrets
from workers.functions_host.auth import BearerCheck

DB = "postgresql://postgres@127.0.0.1:5432/stg"


def _config(**options: object) -> Config:
    env = EnvironmentConfig(name="staging", database_url_env="STAGING_DATABASE_URL",
                            anon_key_env="STAGING_ANON_KEY", **options)  # type: ignore[arg-type]
    return Config(environments={"staging": env})


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url="postgresql://bot")


def test_without_settings_a_kept_secret_signs_a_kept_anon_key(tmp_path: Path) -> None:
    first = resolve_secrets(_config(), "staging", _settings(tmp_path),
                            {"STAGING_DATABASE_URL": DB})
    claims = jwt.decode(first.anon_key, first.jwt_secret, algorithms=["HS256"])
    assert claims["role"] == "anon" and claims["ref"] == "staging"
    assert BearerCheck(first.jwt_secret).refusal(f"Bearer {first.anon_key}".encode()) is None
    keys = tmp_path / "data" / "keys"
    assert (keys / "staging.jwt-secret").stat().st_mode & 0o777 == 0o600
    again = resolve_secrets(_config(), "staging", _settings(tmp_path),
                            {"STAGING_DATABASE_URL": DB})
    assert (again.anon_key, again.jwt_secret) == (first.anon_key, first.jwt_secret)
    assert first.jwt_secret not in repr(first)


def test_the_service_role_key_is_a_service_role_jwt_of_the_same_secret(
        tmp_path: Path) -> None:
    first = resolve_secrets(_config(), "staging", _settings(tmp_path),
                            {"STAGING_DATABASE_URL": DB})
    claims = jwt.decode(first.service_key, first.jwt_secret, algorithms=["HS256"])
    assert claims["role"] == "service_role" and claims["ref"] == "staging"
    assert first.service_key != first.anon_key and first.service_key not in repr(first)
    assert (tmp_path / "data" / "keys" / "staging.service-role-jwt").stat().st_mode & 0o777 \
        == 0o600
    again = resolve_secrets(_config(), "staging", _settings(tmp_path),
                            {"STAGING_DATABASE_URL": DB})
    assert again.service_key == first.service_key


KEYS_FN = """
Deno.serve(() => Response.json({ service: Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? null }));
"""


async def test_the_workers_function_host_gives_functions_the_service_role_key(
        fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on Supabase, where every function gets SUPABASE_SERVICE_ROLE_KEY (e.g. to act as
    # the service role through supabase-js).
    functions_dir = tmp_path / "supabase" / "functions"
    write_function(functions_dir, "keys", KEYS_FN)
    releases = PostgresFunctionReleases(fresh_db)
    await releases.activate((await releases.publish(functions_dir, "a" * 40)).id)
    monkeypatch.setenv("STAGING_DATABASE_URL", fresh_db)
    settings = _settings(tmp_path)
    secrets = resolve_secrets(_config(), "staging", settings)
    env = resolve(_config(), "staging", settings)
    try:
        assert env.functions_url is not None
        base = await env.functions_url()
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"{base}/functions/v1/keys",
                                 headers={"Authorization": f"Bearer {env.anon_key}"})
    finally:
        assert env.close is not None
        await env.close()
    assert r.status_code == 200, r.text
    assert r.json() == {"service": secrets.service_key}


def test_a_configured_secret_and_anon_key_are_used(tmp_path: Path) -> None:
    secret = "the-staging-projects-jwt-secret-0123456789abcdef"
    anon = jwt.encode({"role": "anon"}, secret, algorithm="HS256")
    r = resolve_secrets(_config(jwt_secret_env="STAGING_JWT_SECRET"), "staging",
                        _settings(tmp_path), {"STAGING_DATABASE_URL": DB,
                                              "STAGING_JWT_SECRET": secret,
                                              "STAGING_ANON_KEY": anon})
    assert (r.jwt_secret, r.anon_key) == (secret, anon)
    # Only the secret is configured: the anon key is made with it.
    r = resolve_secrets(_config(jwt_secret_env="STAGING_JWT_SECRET"), "staging",
                        _settings(tmp_path / "other"), {"STAGING_DATABASE_URL": DB,
                                                        "STAGING_JWT_SECRET": secret})
    assert jwt.decode(r.anon_key, secret, algorithms=["HS256"])["role"] == "anon"


def test_a_configured_secret_that_is_unset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentError_, match="STAGING_JWT_SECRET is not set"):
        resolve_secrets(_config(jwt_secret_env="STAGING_JWT_SECRET"), "staging",
                        _settings(tmp_path), {"STAGING_DATABASE_URL": DB})


def test_jwt_secret_env_is_read_from_the_configuration() -> None:
    config = parse_config(
        "environments:\n  staging:\n    database_url_env: STAGING_DATABASE_URL\n"
        "    jwt_secret_env: STAGING_JWT_SECRET\n")
    env = config.environment("staging")
    assert env is not None and env.jwt_secret_env == "STAGING_JWT_SECRET"
