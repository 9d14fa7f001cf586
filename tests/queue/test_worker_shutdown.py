"""A worker stopping while a job is being cancelled still shuts down whole: its database
pool and GitHub client are closed (arq alone skips that when a cancelled job re-raises
CancelledError into its close(); workers/arq_worker.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.app.bot import running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.github_server.server import GitHubTestServer
from workers.jobs.context import WorkerContext


async def test_a_job_cancelled_at_shutdown_does_not_cut_the_shutdown_short(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        worker = bot.worker
        assert worker is not None
        ctx: WorkerContext = await wait_for(lambda: worker.ctx.get("deploybot"),
                                            what="the worker to start")
        # A job task that ends in CancelledError when arq cancels it at shutdown, as one
        # cancelled while arq writes its result does.
        worker.tasks["stuck"] = asyncio.create_task(asyncio.sleep(60))
        await bot.stop_worker()  # raises CancelledError with arq's own close()
    assert ctx.db.closed
