"""Nothing acknowledged is lost: Redis may drop its queue, even restart empty, between the
webhook's 2xx and a worker picking it up — the reconciler rebuilds the work from
PostgreSQL. And one delivery sent ten times deploys once."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from service.embedded.redis import EmbeddedRedis
from tests.app.bot import REPO, post_comment, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.conftest import REDIS_URL
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer


def finished_runs(github: GitHubTestServer) -> list[dict[str, Any]]:
    return [r for r in github.state.repo(REPO).check_runs.values()
            if r.get("status") == "completed"]


async def forget_queue(url: str, prefix: str) -> int:
    """Drop every job Redis holds for this test: as if it lost them."""
    client = aioredis.Redis.from_url(url)
    n = 0
    try:
        for pattern in (f"{prefix}*", f"arq:job:{prefix}*", f"arq:in-progress:{prefix}*",
                        f"arq:retry:{prefix}*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                n += await client.delete(key)
    finally:
        await client.aclose()
    return n


async def test_a_queue_lost_after_the_2xx_is_rebuilt(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    github_server.state.add_pull(REPO, 51, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           start_worker=False) as bot:
        answer = await bot.send("issue_comment",
                                post_comment(github_server, "/deploy staging", pr=51))
        assert answer.status_code == 202
        assert await forget_queue(REDIS_URL, redis_prefix) >= 1  # the job is gone
        bot.start_worker()  # its reconciler finds the recorded delivery
        await wait_for(lambda: finished_runs(github_server), what="the deployment")
    assert finished_runs(github_server)[0]["conclusion"] == "success"


async def test_redis_restarting_empty_loses_nothing(
        world: dict[str, Any], redis_prefix: str, tmp_path: Path,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    private = EmbeddedRedis(tmp_path / "redis-data")
    url = private.ensure_running()
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    github_server.state.add_pull(REPO, 52, head_sha=sha, user_login="alice")
    try:
        async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                               redis_url=url, start_worker=False) as bot:
            answer = await bot.send("issue_comment",
                                    post_comment(github_server, "/deploy staging", pr=52))
            assert answer.status_code == 202
            private.stop()
            shutil.rmtree(private.root / "appendonlydir", ignore_errors=True)
            for leftover in private.root.glob("*.rdb"):
                leftover.unlink()
            assert private.ensure_running() == url  # same port, nothing in it
            bot.start_worker()
            await wait_for(lambda: finished_runs(github_server), what="the deployment")
        assert finished_runs(github_server)[0]["conclusion"] == "success"
    finally:
        private.stop()


async def test_the_same_delivery_ten_times_deploys_once(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    github_server.state.add_pull(REPO, 53, head_sha=sha, user_login="alice")
    payload = post_comment(github_server, "/deploy staging", pr=53)
    delivery = str(uuid.uuid4())
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        answers = await asyncio.gather(*(bot.send("issue_comment", payload, delivery)
                                         for _ in range(10)))
        assert all(a.status_code == 202 for a in answers)
        await wait_for(lambda: finished_runs(github_server), what="the deployment")
        await bot.reconciler_turns(3)  # give a duplicate every chance to show up
    assert len(github_server.state.repo(REPO).check_runs) == 1
    assert len(github_server.state.repo(REPO).deployments) == 1
