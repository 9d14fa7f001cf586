from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.commands.authorization import allowed, required
from service.commands.grammar import Command, ParseError, parse
from service.config.model import default_config


@pytest.mark.parametrize("body,expected", [
    ("/deploy staging", Command("deploy", "staging")),
    ("/DEPLOY Staging", Command("deploy", "staging")),
    ("  /deploy staging  \nthanks!", Command("deploy", "staging")),
    ("/deploy production --noop", Command("deploy", "production", noop=True)),
    ('/deploy production --force --reason "hotfix for checkout"',
     Command("deploy", "production", force=True, reason="hotfix for checkout")),
    ("/rollback production", Command("rollback", "production")),
    ("/rollback production #42", Command("rollback", "production", deployment_id=42)),
    ("/lock staging testing payments", Command("lock", "staging", reason="testing payments")),
    ("/lock staging", Command("lock", "staging")),
    ("/unlock staging", Command("unlock", "staging")),
    ("/wcid", Command("wcid")), ("/status", Command("status")),
    ("/cancel", Command("cancel")), ("/help", Command("help")),
])
def test_valid_commands(body: str, expected: Command) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize("body", [
    None, "", "looks good to me", "please /deploy staging",
    "```\n/deploy staging\n```", "> /deploy staging", "`/deploy staging`",
    "    /deploy staging", "/ deploy staging", "//deploy staging", "/123",
    "LGTM\n/deploy staging",  # only the first line counts
])
def test_not_a_command(body: str | None) -> None:
    assert parse(body) is None


@pytest.mark.parametrize("body,fragment", [
    ("/deploy", "needs an environment"),
    ("/deploy --noop", "needs an environment"),
    ("/deploy staging please", "unexpected `please`"),
    ("/deploy staging --force", "--force` needs `--reason"),
    ("/deploy staging --reason x", "goes with `--force`"),
    ("/deploy st@ging", "not an environment name"),
    ("/rollback production latest", "not a deployment id"),
    ("/unlock staging now", "unexpected `now`"),
    ("/wcid staging", "takes no arguments"),
    ("/deplyo staging", "unknown command `/deplyo`"),
    ('/deploy staging --reason "unclosed', "check its quotes"),
])
def test_errors_say_what_is_wrong(body: str, fragment: str) -> None:
    result = parse(body)
    assert isinstance(result, ParseError) and fragment in result.message


@given(st.text(max_size=200))
def test_never_a_deploy_without_the_exact_command(body: str) -> None:
    result = parse(body)
    if isinstance(result, Command) and result.name == "deploy":
        line = body.replace("\r\n", "\n").strip().split("\n")[0].strip()
        assert line.lower().startswith("/deploy ")
        assert result.environment is not None and result.environment in line.lower()


def test_authorization_rule() -> None:
    config = default_config()
    staging = Command("deploy", "staging")
    production = Command("deploy", "production")
    assert required(staging, config) == "write" and required(production, config) == "maintain"
    assert allowed("write", staging, config) and not allowed("triage", staging, config)
    assert not allowed("write", production, config) and allowed("admin", production, config)
    forced = Command("deploy", "production", force=True, reason="x")
    assert not allowed("maintain", forced, config) and allowed("admin", forced, config)
    assert allowed("read", Command("wcid"), config)
    assert not allowed("none", Command("help"), config)
