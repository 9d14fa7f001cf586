"""Fixtures: the Supabase stand-in, and a hosted-project repository deployed with the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.supabase_api.project import STAGING_REF, hosted_repo
from tests.supabase_api.server import SupabaseStandIn

ANON = "anon-key-for-tests"


@pytest.fixture
def supabase(tmp_path: Path) -> Iterator[SupabaseStandIn]:
    with SupabaseStandIn.running(tmp_path / "supabase", anon_key=ANON) as stand_in:
        yield stand_in


@pytest.fixture
def hosted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           supabase: SupabaseStandIn) -> Iterator[dict[str, Any]]:
    """A hosted staging project on the stand-in, the CLI pointed at it."""
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    project = supabase.add_project(STAGING_REF)
    monkeypatch.setenv("DATABASE_URL", bot)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", ANON)
    monkeypatch.setenv("STAGING_SUPABASE_TOKEN", project.token)
    monkeypatch.setenv("SUPABASE_API_URL", supabase.url)
    monkeypatch.setenv("DEPLOYBOT_DATA_DIR", str(tmp_path / "data"))
    repo = hosted_repo(tmp_path / "repo", supabase.url)
    monkeypatch.chdir(repo)
    try:
        yield {"bot": bot, "staging": staging, "repo": repo, "project": project}
    finally:
        for n in names:
            drop_database(n)
