"""Runbook production step 5 on a hosted project: leaked password protection is read from
the project's auth config, enabled through the Management API when the environment says so,
and on the Free plan (402) the checklist says so and falls back to a recorded /confirm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from service.config.load import parse_config
from service.config.model import EnvironmentConfig
from service.ledger import confirmations
from service.ledger.deployments import Ledger
from service.settings import Settings
from tests.conftest import create_database, database_url, drop_database
from tests.supabase_api.project import PRODUCTION_REF, config
from tests.supabase_api.server import SupabaseStandIn
from tests.supabase_api.state import Fault
from workers.gates.checklist import leaked_password_protection
from workers.gates.gather import gather

REPO = "octo/backend"


@pytest.fixture
async def ledger() -> AsyncIterator[Ledger]:
    name = create_database("bot")
    try:
        async with Ledger.open(database_url(name)) as led:
            yield led
    finally:
        drop_database(name)


def production(supabase: SupabaseStandIn, *, enable: bool = True) -> EnvironmentConfig:
    env = parse_config(config(supabase.url)).environments["production"]
    return replace(env, enable_leaked_password_protection=enable)


async def judge(ledger: Ledger, env: EnvironmentConfig, supabase: SupabaseStandIn,
                tmp_path: Path) -> tuple[bool, str, str | None]:
    settings = Settings(data_dir=tmp_path, supabase_api_url=supabase.url)
    facts = await gather(ledger, env, repo=REPO, commit="a" * 40, settings=settings)
    result = leaked_password_protection(env, facts)
    return result.ok, result.reason, result.fix


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, supabase: SupabaseStandIn) -> str:
    project = supabase.add_project(PRODUCTION_REF)
    monkeypatch.setenv("PRODUCTION_SUPABASE_TOKEN", project.token)
    return project.token


async def test_read_when_already_enabled(ledger: Ledger, supabase: SupabaseStandIn,
                                         token: str, tmp_path: Path) -> None:
    supabase.state.projects[PRODUCTION_REF].auth["password_hibp_enabled"] = True
    ok, reason, _ = await judge(ledger, production(supabase), supabase, tmp_path)
    assert ok and reason == "enabled (Supabase Management API)"
    assert [r.operation for r in supabase.state.requests] == ["v1-get-auth-service-config"]


async def test_enabled_when_configured(ledger: Ledger, supabase: SupabaseStandIn,
                                       token: str, tmp_path: Path) -> None:
    ok, reason, _ = await judge(ledger, production(supabase), supabase, tmp_path)
    assert ok and reason == "enabled just now (Supabase Management API)"
    assert supabase.state.projects[PRODUCTION_REF].auth["password_hibp_enabled"] is True
    assert supabase.state.rejected == []


async def test_left_alone_when_not_configured(ledger: Ledger, supabase: SupabaseStandIn,
                                              token: str, tmp_path: Path) -> None:
    ok, reason, fix = await judge(ledger, production(supabase, enable=False), supabase,
                                  tmp_path)
    assert not ok and reason == "disabled on the Supabase project"
    assert fix is not None and "enable_leaked_password_protection: true" in fix
    assert supabase.state.projects[PRODUCTION_REF].auth["password_hibp_enabled"] is False


async def test_free_plan_says_so_and_falls_back_to_confirm(
        ledger: Ledger, supabase: SupabaseStandIn, token: str, tmp_path: Path) -> None:
    supabase.state.projects[PRODUCTION_REF].plan = "free"
    env = production(supabase)
    ok, reason, fix = await judge(ledger, env, supabase, tmp_path)
    assert not ok
    assert "available on Pro Plans and up" in reason and "402" in reason
    assert fix is not None and "/confirm production leaked-password-protection" in fix
    await confirmations.record(ledger.conn, REPO, "production", "leaked-password-protection",
                               "alice")
    ok, reason, _ = await judge(ledger, env, supabase, tmp_path)
    assert ok and "accepted by @alice" in reason
    assert supabase.state.rejected == []


async def test_a_confirmation_does_not_override_a_project_that_can_enable_it(
        ledger: Ledger, supabase: SupabaseStandIn, token: str, tmp_path: Path) -> None:
    await confirmations.record(ledger.conn, REPO, "production", "leaked-password-protection",
                               "alice")
    ok, _, _ = await judge(ledger, production(supabase, enable=False), supabase, tmp_path)
    assert not ok


async def test_a_bad_token_is_named_never_shown(
        ledger: Ledger, supabase: SupabaseStandIn, token: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sbp_" + "f" * 40
    monkeypatch.setenv("PRODUCTION_SUPABASE_TOKEN", wrong)
    ok, reason, fix = await judge(ledger, production(supabase), supabase, tmp_path)
    assert not ok
    assert "refused the access token in PRODUCTION_SUPABASE_TOKEN" in reason
    assert wrong not in reason and token not in reason and wrong not in (fix or "")


async def test_an_answer_echoing_the_token_is_redacted(
        ledger: Ledger, supabase: SupabaseStandIn, token: str, tmp_path: Path) -> None:
    supabase.state.faults.append(Fault(500, times=4, headers={"retry-after": "0"},
                                       body={"message": f"upstream saw {token}"}))
    ok, reason, _ = await judge(ledger, production(supabase), supabase, tmp_path)
    assert not ok
    assert "upstream saw [PRODUCTION_SUPABASE_TOKEN]" in reason and token not in reason
    assert "status.supabase.com" in reason
