"""`/deploy staging` on a pull request whose Deno test fails: the deployment stops at
preflight and the check run says which test, with an annotation on its failing line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.conftest import apply_shim, create_database, database_url, drop_database
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from tests.supabase_functions import FUNCTIONS, HELLO_TEST, make_supabase_repo

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (.ci/test installs it)")

FAILING_TEST = HELLO_TEST.replace("172800000", "1000")
FAILING_LINE = FAILING_TEST.splitlines().index(
    "  strictEqual((await (await ask({})).json()).cacheFor, 1000);") + 1


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    apply_shim(staging)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", "anon-key-for-tests")
    repo = make_supabase_repo(tmp_path / "repo")
    github_server.state.add_repo(REPO, git=repo)
    github_server.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


async def test_a_failing_deno_test_is_annotated_and_stops_at_preflight(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "slower-cache",
                      {f"{FUNCTIONS}/hello/hello_test.ts": FAILING_TEST})
    github_server.state.add_pull(REPO, 11, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        payload = post_comment(github_server, "/deploy staging", pr=11)
        await bot.send("issue_comment", payload)
        run = await wait_for(lambda: _completed(github_server), what="the check run to end",
                             limit=240)
    assert run["conclusion"] == "failure"
    summary = run["output"]["summary"]
    assert '"says how long to cache"' in summary, summary
    assert f"{FUNCTIONS}/hello/hello_test.ts:{FAILING_LINE}" in summary, summary
    notes = github_server.state.repo(REPO).annotations[run["id"]]
    assert [(a["path"], a["start_line"]) for a in notes] == [
        (f"{FUNCTIONS}/hello/hello_test.ts", FAILING_LINE)]
    assert "says how long to cache" in notes[0]["message"]
    github_server.assert_no_validation_errors()


def _completed(github: GitHubTestServer) -> dict[str, Any] | None:
    runs = list(github.state.repo(REPO).check_runs.values())
    return runs[-1] if runs and runs[-1].get("status") == "completed" else None
