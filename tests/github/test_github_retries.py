"""Retries of 5xx and timeouts, rate-limit waits, counters. Waits go through an injected sleep:
the tests check what the client asked to wait, never how long anything took."""

from __future__ import annotations

import email.utils
import time

import pytest

from service.github import (
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    RetryPolicy,
)
from tests.github.support import MakeApp, Sleeps
from tests.github_server import GitHubTestServer


async def test_502_is_retried_with_growing_backoff_then_succeeds(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app()
    github_server.faults.fail("/repos/octo/backend", status=502, times=2)

    assert (await app.installation(1).get_repo(repo))["full_name"] == repo

    assert [r.status for r in github_server.calls("GET", "/repos/*")] == [502, 502, 200]
    sleeps = app._sleep
    assert isinstance(sleeps, Sleeps) and sleeps.calls == [1.0, 2.0]
    route = ("GET", "/repos/{owner}/{repo}")
    assert app.counter.calls[route] == 3
    assert app.counter.errors[("GET", "/repos/{owner}/{repo}", "502")] == 2
    assert app.counter.retries[route] == 2


async def test_429_waits_what_retry_after_says(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps)
    github_server.faults.rate_limit("/repos/*", retry_after=7)

    await app.installation(1).get_repo(repo)

    assert sleeps.calls == [7.0]
    assert [r.status for r in github_server.calls("GET", "/repos/*")] == [429, 200]


async def test_retry_after_as_an_http_date(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    when = int(time.time()) + 120
    app = await make_app(sleep=sleeps, clock=lambda: when - 45.0)  # 45 s before that date
    rule = github_server.faults.rate_limit("/repos/*", retry_after=None)
    rule.headers["retry-after"] = email.utils.formatdate(when, usegmt=True)

    await app.installation(1).get_repo(repo)

    assert len(sleeps.calls) == 1 and sleeps.calls[0] == pytest.approx(45, abs=0.01)


async def test_secondary_rate_limit_403_is_retried_after_retry_after(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps)
    github_server.faults.secondary_rate_limit("/repos/*/check-runs", retry_after=3)

    await app.installation(1).create_check_run(repo, name="deploy", head_sha="a" * 40)

    assert sleeps.calls == [3.0]
    assert [r.status for r in github_server.calls("POST")][-2:] == [403, 201]


async def test_primary_rate_limit_waits_until_the_reset(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    reset = 2_000_000_000
    app = await make_app(sleep=sleeps, clock=lambda: reset - 30.0)
    github_server.faults.primary_rate_limit("/repos/*", reset_at=reset)

    await app.installation(1).get_repo(repo)

    # 30 s to the reset, plus one second of margin.
    assert len(sleeps.calls) == 1 and sleeps.calls[0] == pytest.approx(31, abs=0.01)


async def test_rate_limit_without_a_hint_backs_off_the_minimum(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps, retry=RetryPolicy(min_backoff=60.0))
    github_server.faults.rate_limit("/repos/*", retry_after=None)

    await app.installation(1).get_repo(repo)

    assert sleeps.calls == [60.0]


async def test_a_wait_longer_than_max_wait_raises_instead_of_sleeping(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps, retry=RetryPolicy(max_wait=600))
    github_server.faults.rate_limit("/repos/*", retry_after=3600)

    with pytest.raises(GitHubRateLimited) as info:
        await app.installation(1).get_repo(repo)

    assert info.value.retry_after == 3600
    assert sleeps.calls == []


async def test_timeout_is_retried(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps, timeout=0.3)
    await app.installation(1).get_repo(repo)  # the token is minted before the fault
    github_server.faults.delay("/repos/octo/backend", seconds=5)

    assert (await app.installation(1).get_repo(repo))["full_name"] == repo

    assert sleeps.calls == [1.0]
    assert app.counter.errors[("GET", "/repos/{owner}/{repo}", "timeout")] == 1


async def test_5xx_on_every_attempt_gives_up_after_max_attempts(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps, retry=RetryPolicy(max_attempts=4, base_delay=1,
                                                         max_delay=3))
    github_server.faults.fail("/repos/octo/backend", status=503, times=None)

    with pytest.raises(GitHubUnavailable) as info:
        await app.installation(1).get_repo(repo)

    assert info.value.status == 503
    assert sleeps.calls == [1.0, 2.0, 3.0]  # bounded by max_delay
    assert len(github_server.calls("GET", "/repos/octo/backend")) == 4


async def test_client_errors_are_not_retried(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps)
    with pytest.raises(GitHubNotFound) as info:
        await app.installation(1).get_pull(repo, 404)
    assert sleeps.calls == []
    assert "/repos/{owner}/{repo}/pulls/{pull_number} → 404" in str(info.value)


async def test_last_seen_rate_limit_remaining_is_exposed(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app()
    gh = app.installation(1)
    assert gh.rate_limit.remaining is None
    await gh.get_repo(repo)
    await gh.get_repo(repo)
    assert gh.rate_limit.remaining == github_server.state.rate_limit - 2
    assert gh.rate_limit.limit == github_server.state.rate_limit
    assert app.rate_limit.remaining is not None  # the app's own (JWT) budget


# -- POSTs that create something: never sent twice blindly -----------------------------------

SHA = "a" * 40


async def test_a_comment_whose_answer_times_out_is_found_not_posted_twice(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    github_server.state.add_pull(repo, 7, head_sha=SHA)
    sleeps = Sleeps()
    app = await make_app(sleep=sleeps, timeout=0.5)
    gh = app.installation(1)
    await gh.get_repo(repo)  # the token is minted before the fault
    github_server.faults.answer_late("/repos/*/issues/7/comments", seconds=1.5, method="POST")

    made = await gh.create_comment(repo, 7, "Deploying to staging…")

    comments = github_server.state.repo(repo).comments_on(7)
    assert [c["body"] for c in comments] == ["Deploying to staging…"]
    assert made["id"] == comments[0]["id"]  # found by its text, not posted again
    assert sleeps.calls == [1.0]


async def test_a_check_run_refused_with_502_is_created_once_on_retry(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app()
    github_server.faults.fail("/repos/*/check-runs", status=502, times=1, method="POST")

    run = await app.installation(1).create_check_run(repo, name="deploybot/staging",
                                                     head_sha=SHA, external_id="41")

    runs = github_server.state.repo(repo).check_runs
    assert list(runs) == [run["id"]]
    assert [r.status for r in github_server.calls("POST", "/repos/*/check-runs")] == [502, 201]


async def test_a_check_run_and_a_deployment_created_but_answered_late_exist_once(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app(timeout=0.5)
    gh = app.installation(1)
    await gh.get_repo(repo)
    github_server.faults.answer_late("/repos/*/check-runs", seconds=1.5, method="POST")
    github_server.faults.answer_late("/repos/*/deployments", seconds=1.5, method="POST")

    run = await gh.create_check_run(repo, name="deploybot/staging", head_sha=SHA,
                                    external_id="42")
    made = await gh.create_deployment(repo, ref=SHA, environment="staging",
                                      payload={"deploybot_request": 42})

    state = github_server.state.repo(repo)
    assert list(state.check_runs) == [run["id"]]
    assert made.id is not None and list(state.deployments) == [made.id]


async def test_a_deployment_status_that_timed_out_is_simply_sent_again(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app(timeout=0.5)
    gh = app.installation(1)
    made = await gh.create_deployment(repo, ref=SHA, environment="staging")
    assert made.id is not None
    github_server.faults.delay("/repos/*/deployments/*/statuses", seconds=3)

    await gh.create_deployment_status(repo, made.id, state="in_progress")

    statuses = github_server.state.repo(repo).deployment_statuses[made.id]
    assert [s["state"] for s in statuses] == ["in_progress"]
    assert len(github_server.calls("POST", "/repos/*/deployments/*/statuses")) == 2


async def test_a_post_mortem_issue_answered_late_is_found_not_opened_twice(
        github_server: GitHubTestServer, make_app: MakeApp, repo: str) -> None:
    app = await make_app(timeout=0.5)
    gh = app.installation(1)
    await gh.get_repo(repo)
    earlier = await gh.create_issue(repo, title="Post-mortem: staging deployment #4",
                                    body="stopped at migrate", labels=["incident"])
    github_server.faults.answer_late("/repos/*/issues", seconds=1.5, method="POST")

    made = await gh.create_issue(repo, title="Post-mortem: staging deployment #5",
                                 body="stopped at migrate", labels=["deploybot", "incident"])

    issues = github_server.state.repo(repo).issues
    assert [i["title"] for i in issues.values()] == ["Post-mortem: staging deployment #4",
                                                     "Post-mortem: staging deployment #5"]
    assert made["number"] == max(issues) != earlier["number"]
    posted = [c.body["title"] for c in github_server.calls("POST", "/repos/*/issues")]
    assert posted == ["Post-mortem: staging deployment #4", "Post-mortem: staging deployment #5"]
