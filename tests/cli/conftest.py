"""The CLI tests' world: this repository as a git project in the working directory, the
bot's database and staging (as the bot prepares it) named in the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import cli_project


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    names = [create_database("bot"), create_database("stg")]
    bot = database_url(names[0])
    staging = prepare_environment(database_url(names[1]))
    repo = cli_project(tmp_path, monkeypatch, bot=bot, staging=staging)
    try:
        yield {"bot": bot, "staging": staging, "repo": str(repo)}
    finally:
        for n in names:
            drop_database(n)
