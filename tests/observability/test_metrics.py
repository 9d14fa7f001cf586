"""GET /metrics, scraped around a real deployment (webhook → worker → runbook): the counters
move with it, though the worker is another part of the system than the web process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.app.bot import REPO, post_comment, running_bot
from tests.app.test_pr_deploy import completed, world  # noqa: F401  (fixture)
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("deploybot_"), family.name
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def eventually(url: str, check: Any, limit: float = 90.0) -> Samples:
    deadline = time.monotonic() + limit
    while True:
        samples = await scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.2)


async def test_counters_move_with_a_deployment(world: dict[str, Any],  # noqa: F811
                                               redis_prefix: str,
                                               github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "metrics\n"})
    github_server.state.add_pull(REPO, 7, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        before = await scrape(bot.url)
        assert value(before, "deploybot_up", source="postgres") == 1
        assert value(before, "deploybot_up", source="redis") == 1
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=7))

        def finished(s: Samples) -> bool:
            return completed(github_server) is not None and value(
                s, "deploybot_job_duration_seconds_count", job="run_request") >= 1

        after = await eventually(bot.url, finished)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("deploybot_deployments_total", environment="staging", kind="deploy",
                 outcome="succeeded") == 1
    assert moved("deploybot_deliveries_total", event="issue_comment", outcome="processed") == 1
    # the comment, and the pull request's `opened` GitHub sent before it (tests/app/bot.py)
    assert moved("deploybot_webhook_requests_total", status="202") == 2
    assert moved("deploybot_deployment_duration_seconds_count", environment="staging") == 1
    for step in ("preflight", "backup", "migrate", "functions", "verify", "smoke"):
        assert moved("deploybot_step_duration_seconds_count", step=step,
                     status="succeeded") == 1, step
    assert moved("deploybot_job_duration_seconds_count", job="handle_delivery",
                 outcome="ok") >= 1
    assert moved("deploybot_job_duration_seconds_count", job="run_request", outcome="ok") == 1
    check_runs = moved("deploybot_github_api_calls_total", method="PATCH",
                       route="/repos/{owner}/{repo}/check-runs/{check_run_id}")
    assert check_runs >= 1
    assert moved("deploybot_github_api_calls_total") >= check_runs + 3
    remaining = value(after, "deploybot_github_rate_limit_remaining", client="installation:1")
    assert 0 < remaining < github_server.state.rate_limit
    assert value(after, "deploybot_queue_depth") == 0
    assert value(after, "deploybot_errors_total", component="worker") == 0
