"""Issue 11, item 9: the smoke file and the RLS suite come from the pull request, so they get
the configuration's bounds (size, depth, aliases) from the one shared loader, and a refusal
names the file and the limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.bounded_input import YamlLimits
from service.config.load import ConfigError, parse_config
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, cli_project
from workers.cli import main
from workers.runbook.smoke_spec import SmokeSpecError, load_smoke_spec, parse_smoke_spec
from workers.steps.verify import MAX_TEST_FILE_BYTES as MAX_SUITE_BYTES

SMOKE = "tests/backend/smoke.yml"
LIMITS = YamlLimits()


def _alias_bomb(levels: int, width: int = 10) -> str:
    """`a: &a [x, …]`, `b: &b [*a, …]`, …: width**levels values once expanded, in a few
    hundred bytes (the issue's file, nine levels in 372 bytes, took 20 s to load; five
    levels keep this test finite when the bound is removed)."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _refusal(text: str) -> str:
    with pytest.raises(SmokeSpecError) as caught:
        parse_smoke_spec(text, SMOKE)
    return str(caught.value)


def test_a_smoke_file_of_nested_aliases_is_refused_naming_the_limit() -> None:
    bomb = _alias_bomb(5)  # 100,000 values: past the limit, still loadable without it
    assert len(bomb.encode()) < 400
    message = _refusal(bomb)
    assert message.startswith(f"{SMOKE}: (file): is refused: more than "
                              f"{LIMITS.max_nodes:,} values once its aliases are expanded")
    assert "a smoke file is a few lines" in message


def test_a_smoke_file_nested_too_deep_is_refused() -> None:
    deep = "checks: " + "[" * (LIMITS.max_depth + 1) + "]" * (LIMITS.max_depth + 1) + "\n"
    assert f"nested more than {LIMITS.max_depth} levels deep" in _refusal(deep)


def test_aliases_of_aliases_cannot_nest_past_the_depth_limit() -> None:
    # Each line one level deep in the text, 3,000 levels once expanded: unbounded, the
    # walk through the aliases ran out of Python's stack (a RecursionError, not a message).
    chain = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [*a{n - 1}]" for n in range(1, 3000)]
    text = "\n".join(chain) + "\n"
    assert "levels deep once its aliases are expanded" in _refusal(text)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert "levels deep once its aliases are expanded" in str(caught.value)


def test_a_huge_smoke_file_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    path = tmp_path / SMOKE
    path.parent.mkdir(parents=True)
    path.write_text("# padding\n" * (LIMITS.max_bytes // 10 + 1) + "checks: []\n")
    with pytest.raises(SmokeSpecError) as caught:
        load_smoke_spec(tmp_path, SMOKE)
    assert str(caught.value).startswith(f"{SMOKE}: (file): is refused: {SMOKE} is larger "
                                        f"than 256 KiB")


def test_the_configuration_keeps_its_bounds() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_alias_bomb(5))
    assert "a configuration is a few lines" in str(caught.value)


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    names = [create_database("bot"), create_database("stg")]
    bot, stg = (database_url(n) for n in names)
    stg = prepare_environment(stg)
    repo = cli_project(tmp_path, monkeypatch, bot=bot, staging=stg)
    try:
        yield {"url": stg, "repo": str(repo)}
    finally:
        for n in names:
            drop_database(n)


def test_a_deploy_refuses_an_oversized_rls_suite_naming_it(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    suite = "tests/backend/rls_suite.sql"
    padding = "-- padding\n" * (MAX_SUITE_BYTES // 11 + 1)
    sha = branch_with(Path(staging["repo"]), "huge-suite", {
        suite: padding + (Path(staging["repo"]) / suite).read_text()})
    assert main(["deploy", "staging", "--ref", sha]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"{suite} is larger than 1 MiB" in out
    with psycopg.connect(staging["url"]) as conn:  # rolled back: nothing left applied
        assert conn.execute("select to_regclass('public.quotes')").fetchone() == (None,)


def test_a_deploy_refuses_an_alias_bomb_smoke_file_naming_it(
        staging: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    sha = branch_with(Path(staging["repo"]), "bomb", {SMOKE: _alias_bomb(5)})
    assert main(["deploy", "staging", "--ref", sha]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"{SMOKE}: (file): is refused: more than 50,000 values" in out
