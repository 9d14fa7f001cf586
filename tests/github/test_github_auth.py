"""App JWT, installation tokens shared through Redis, refresh, and the explicit API version."""

from __future__ import annotations

import asyncio

import pytest

from service.github import API_VERSION, GitHubApp, GitHubUnauthorized
from tests.github.support import Clock, MakeApp
from tests.github_server import GitHubTestServer, generate_app_keys


async def test_token_minted_once_and_shared_by_two_processes(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    first, second = await make_app(), await make_app()  # two workers: same Redis, same prefix

    assert (await first.installation(1).get_repo(repo))["full_name"] == repo
    assert (await second.installation(1).get_repo(repo))["full_name"] == repo
    await first.installation(1).get_repo(repo)

    assert len(github_server.state.tokens_minted) == 1
    assert first.tokens.minted + second.tokens.minted == 1
    mint = github_server.calls("POST", "/app/installations/*/access_tokens")
    assert [r.auth for r in mint] == ["jwt"]
    assert {r.auth for r in github_server.calls("GET", "/repos/*")} == {"token"}


async def test_concurrent_first_calls_mint_one_token(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    apps = [await make_app(), await make_app()]
    await asyncio.gather(*(apps[i % 2].installation(1).get_repo(repo) for i in range(8)))
    assert len(github_server.state.tokens_minted) == 1


async def test_the_github_app_fixture_is_ready_to_use(
        github_server: GitHubTestServer, github_app: GitHubApp, repo: str) -> None:
    github_server.faults.fail("/repos/*", status=500, times=2)
    assert (await github_app.installation(1).get_repo(repo))["name"] == "backend"
    assert github_app.counter.snapshot()["retries"] == {"GET /repos/{owner}/{repo}": 2}


async def test_every_request_names_the_api_version(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app()
    await app.installation(1).get_repo(repo)
    await app.get_app()
    assert {r.api_version for r in github_server.requests} == {API_VERSION}


async def test_token_near_its_expiry_is_replaced(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    clock = Clock()
    app = await make_app(clock=clock, token_margin=300)
    gh = app.installation(1)
    await gh.get_repo(repo)

    # 56 minutes later the hour-long token is inside the 5-minute margin.
    clock.offset = 56 * 60
    github_server.state.advance_clock(56 * 60)
    await gh.get_repo(repo)

    minted = github_server.state.tokens_minted
    assert len(minted) == 2
    assert minted[0].token != minted[1].token
    await gh.get_repo(repo)
    assert len(github_server.state.tokens_minted) == 2  # the new one is cached


async def test_revoked_token_is_dropped_and_reminted(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app()
    gh = app.installation(1)
    await gh.get_repo(repo)
    github_server.state.expire_tokens()

    assert (await gh.get_repo(repo))["full_name"] == repo

    assert len(github_server.state.tokens_minted) == 2
    statuses = [r.status for r in github_server.calls("GET", "/repos/*")]
    assert statuses == [200, 401, 200]


async def test_wrong_private_key_is_refused_with_a_clear_error(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app(private_key=generate_app_keys().private_pem)
    with pytest.raises(GitHubUnauthorized) as info:
        await app.installation(1).get_repo(repo)
    assert "/app/installations/{installation_id}/access_tokens" in str(info.value)
    assert info.value.status == 401


async def test_tokens_never_appear_in_errors_or_reprs(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app()
    gh = app.installation(1)
    await gh.get_repo(repo)
    token = github_server.state.tokens_minted[0].token
    with pytest.raises(Exception) as info:
        await gh.get_pull(repo, 999)
    assert token not in str(info.value) and token not in repr(info.value)
    cached = await app.tokens._cached(1)
    assert cached is not None and token not in repr(cached)
