"""Where an environment's JWT secret and anon key come from (workers/environments.py)."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from service.config.load import parse_config
from service.config.model import Config, EnvironmentConfig
from service.settings import Settings
from workers.environments import EnvironmentError_, resolve_secrets
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
