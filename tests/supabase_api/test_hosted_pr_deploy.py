"""`/deploy staging` on a pull request to a hosted Supabase project: the real webhook
endpoint and worker, the test GitHub server, and the stand-in Management API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from tests.supabase_api.conftest import ANON
from tests.supabase_api.project import HELLO_500, STAGING_REF, hosted_repo
from tests.supabase_api.server import SupabaseStandIn


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github_server: GitHubTestServer,
          supabase: SupabaseStandIn) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    project = supabase.add_project(STAGING_REF)
    monkeypatch.setenv("STAGING_DATABASE_URL", staging)
    monkeypatch.setenv("STAGING_ANON_KEY", ANON)
    monkeypatch.setenv("STAGING_SUPABASE_TOKEN", project.token)
    repo = hosted_repo(tmp_path / "repo", supabase.url)
    github_server.state.add_repo(REPO, git=repo)
    github_server.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "repo": repo, "data": tmp_path / "data", "project": project}
    finally:
        for n in names:
            drop_database(n)


async def call_hello(supabase: SupabaseStandIn, body: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(f"{supabase.url}/functions/v1/hello", json=body,
                                 headers={"Authorization": f"Bearer {ANON}"})


def last_run(github: GitHubTestServer, count: int) -> dict[str, Any] | None:
    runs = list(github.state.repo(REPO).check_runs.values())
    return runs[-1] if len(runs) == count and runs[-1].get("status") == "completed" else None


async def test_deploy_staging_to_a_hosted_project_and_roll_back_a_500(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer,
        supabase: SupabaseStandIn) -> None:
    project = world["project"]
    good = branch_with(world["repo"], "feature", {"README.md": "hello\n"})
    bad = branch_with(world["repo"], "broken", {"supabase/functions/hello/index.ts": HELLO_500})
    github_server.state.add_pull(REPO, 7, head_sha=good, user_login="alice")
    github_server.state.add_pull(REPO, 8, head_sha=bad, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           supabase_api_url=supabase.url) as bot:
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=7))
        run = await wait_for(lambda: last_run(github_server, 1), what="the first deployment")
        assert run["conclusion"] == "success", run["output"]["summary"]
        assert sorted(project.functions) == ["hello", "public-ping"]
        answer = await call_hello(supabase, {"name": "pr"})
        assert answer.json() == {"message": "hello pr", "release": "one"}
        first = dict(project.functions["hello"].active.files)

        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=8))
        run = await wait_for(lambda: last_run(github_server, 2), what="the second deployment")
    assert run["conclusion"] == "failure"
    summary = run["output"]["summary"]
    assert "rolled back" in summary and "500" in summary
    assert [v.version for v in project.functions["hello"].versions] == [1, 2, 3]
    assert project.functions["hello"].active.files == first
    answer = await call_hello(supabase, {})
    assert answer.status_code == 200 and answer.json()["release"] == "one"
    assert supabase.state.rejected == []
    everything = str(github_server.state.repo(REPO).check_runs) + str(
        github_server.state.repo(REPO).comments_on(8))
    assert project.token not in everything
    github_server.assert_no_validation_errors()
