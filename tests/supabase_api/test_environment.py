"""Resolving a hosted Supabase environment: the Management API driver, the project's
functions URL, and clear refusals when its token or database is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config.load import parse_config
from service.settings import Settings
from workers.drivers.supabase_functions import SupabaseFunctionReleases
from workers.environments import EnvironmentError_, resolve

CONFIG = """
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
    anon_key_env: STAGING_ANON_KEY
    supabase_project_ref: abcdefghijklmnopqrst
"""


async def test_a_hosted_project_gets_the_management_api_driver(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://u@db.example/postgres")
    monkeypatch.setenv("STAGING_ANON_KEY", "anon")
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", "sbp_secret")
    env = resolve(parse_config(CONFIG), "staging",
                  Settings(data_dir=tmp_path, database_url="postgresql://u@bot/db"))
    assert isinstance(env.functions, SupabaseFunctionReleases)
    assert env.functions.api.ref == "abcdefghijklmnopqrst"
    assert "sbp_secret" not in repr(env.functions) + repr(env.functions.api)
    assert env.functions_url is not None
    assert await env.functions_url() == "https://abcdefghijklmnopqrst.supabase.co"


def test_a_missing_token_names_its_variable(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://u@db.example/postgres")
    monkeypatch.setenv("STAGING_ANON_KEY", "anon")
    monkeypatch.delenv("SUPABASE_ACCESS_TOKEN", raising=False)
    with pytest.raises(EnvironmentError_) as err:
        resolve(parse_config(CONFIG), "staging",
                Settings(data_dir=tmp_path, database_url="postgresql://u@bot/db"))
    assert "SUPABASE_ACCESS_TOKEN is not set" in str(err.value)
    assert "supabase.com/dashboard/account/tokens" in str(err.value)


def test_a_hosted_project_never_falls_back_to_the_embedded_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGING_DATABASE_URL", raising=False)
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", "sbp_secret")
    with pytest.raises(EnvironmentError_) as err:
        resolve(parse_config(CONFIG), "staging", Settings(data_dir=tmp_path))  # embedded
    assert "STAGING_DATABASE_URL is not set" in str(err.value)
    assert "abcdefghijklmnopqrst" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no embedded server was started
