"""The `functions` step: publish and activate the commit's functions, wait until the host
serves them, and undo by reactivating the previous release."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.functions_host.conftest import HostFactory
from tests.functions_host.fnhost_helpers import (
    Recorder,
    make_ctx,
    make_env,
    version_of,
    write_function,
    write_version,
)
from workers.drivers.database import PostgresDatabase
from workers.drivers.functions import PostgresFunctionReleases
from workers.runbook.engine import Engine
from workers.runbook.events import Outcome
from workers.runbook.step import Step, StepFailed, StepSkipped
from workers.steps.functions import FUNCTIONS
from workers.steps.functions import undo as functions_undo

# Only the NOTIFY can make the host switch in time: the step's wait proves it switched.
NO_POLLING = 600.0


@pytest.fixture
async def database(fresh_db: str) -> AsyncIterator[PostgresDatabase]:
    async with PostgresDatabase(fresh_db) as db:
        yield db


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "functions").mkdir(parents=True)
    return root


async def test_deploys_skips_when_unchanged_and_undo_restores_the_previous_release(
        fresh_db: str, database: PostgresDatabase, source: Path, start_host: HostFactory,
        client: httpx.AsyncClient) -> None:
    releases = PostgresFunctionReleases(fresh_db)
    host = await start_host(fresh_db, lazy=True, poll_interval=NO_POLLING)
    env = make_env(database, releases, host)
    functions = source / "functions"

    # First deployment: nothing was active.
    write_version(functions, "hello", "v1")
    first = make_ctx(env, source, "1" * 40)
    await FUNCTIONS.run(first)
    one = first.state.new_release
    assert first.state.previous_release is None
    assert one.slugs == ("hello",) and one.commit == "1" * 40
    out = first.reporter.output()  # type: ignore[attr-defined]
    assert f"published release {one.id}" in out and "hello" in out
    assert f"serves release {one.id}" in out
    assert await version_of(client, host.url) == "v1"

    # Same content at another commit: nothing to do.
    again = make_ctx(env, source, "2" * 40)
    with pytest.raises(StepSkipped, match=f"functions unchanged \\(release {one.id}\\)"):
        await FUNCTIONS.run(again)
    await functions_undo(again)  # the engine undoes a skipped step too: it must change nothing
    active = await releases.active()
    assert active is not None and active.id == one.id

    # New content: a new release, served at once (the step waited for the host).
    write_version(functions, "hello", "v2")
    second = make_ctx(env, source, "3" * 40)
    await FUNCTIONS.run(second)
    two = second.state.new_release
    assert second.state.previous_release.id == one.id
    assert await version_of(client, host.url) == "v2"

    await functions_undo(second)
    active = await releases.active()
    assert active is not None and active.id == one.id
    assert await version_of(client, host.url) == "v1"  # undo waited for the switch back
    assert f"reactivated release {one.id}" in second.reporter.output()  # type: ignore[attr-defined]
    assert two.id != one.id

    # Undoing the very first deployment leaves no functions at all.
    await functions_undo(first)
    assert await releases.active() is None
    assert await version_of(client, host.url) == 404


async def test_a_failure_later_in_the_deployment_reactivates_the_previous_release(
        fresh_db: str, database: PostgresDatabase, source: Path, start_host: HostFactory,
        client: httpx.AsyncClient) -> None:
    releases = PostgresFunctionReleases(fresh_db)
    host = await start_host(fresh_db, lazy=True, poll_interval=NO_POLLING)
    env = make_env(database, releases, host)
    functions = source / "functions"
    write_version(functions, "hello", "v1")
    await FUNCTIONS.run(make_ctx(env, source, "1" * 40))

    async def smoke_fails(ctx: object) -> None:
        raise StepFailed("smoke failed", stop_the_line="Edge Function returns 500 errors")

    write_version(functions, "hello", "v2")
    recorder = Recorder()
    outcome = await Engine([FUNCTIONS, Step("smoke", "Smoke", smoke_fails)]).run(
        make_ctx(env, source, "2" * 40, recorder))
    assert outcome == Outcome.ROLLED_BACK
    assert await version_of(client, host.url) == "v1"
    active = await releases.active()
    assert active is not None and active.commit == "1" * 40


async def test_a_release_whose_function_cannot_load_fails_the_step(
        fresh_db: str, database: PostgresDatabase, source: Path,
        start_host: HostFactory) -> None:
    releases = PostgresFunctionReleases(fresh_db)
    host = await start_host(fresh_db, lazy=True, poll_interval=NO_POLLING)
    env = make_env(database, releases, host)
    write_function(source / "functions", "broken",
                   'throw new Error("missing configuration at import");\n')
    ctx = make_ctx(env, source)
    with pytest.raises(StepFailed, match="broken failed to load") as failure:
        await FUNCTIONS.run(ctx)
    assert failure.value.stop_the_line == "Edge Function returns 500 errors"
    assert "missing configuration at import" in failure.value.output
    await functions_undo(ctx)
    assert await releases.active() is None


async def test_a_functions_folder_without_a_function_fails_the_step_saying_what_one_is(
        fresh_db: str, database: PostgresDatabase, source: Path) -> None:
    releases = PostgresFunctionReleases(fresh_db)
    env = make_env(database, releases, None)
    old_style = source / "functions" / "calculate-quote"
    old_style.mkdir()
    (old_style / "__init__.py").write_text("from .handler import app\n")
    with pytest.raises(StepFailed, match="holds files but no function") as failure:
        await FUNCTIONS.run(make_ctx(env, source))
    assert "index.ts that calls Deno.serve" in failure.value.reason
    assert await releases.active() is None and await releases.history() == []


async def test_without_a_functions_directory_there_is_nothing_to_deploy(
        fresh_db: str, database: PostgresDatabase, tmp_path: Path) -> None:
    env = make_env(database, PostgresFunctionReleases(fresh_db), None)
    with pytest.raises(StepSkipped, match="no functions to deploy"):
        await FUNCTIONS.run(make_ctx(env, tmp_path))
