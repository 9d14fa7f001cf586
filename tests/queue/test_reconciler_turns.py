"""Installations sharing one Redis (each with its own key prefix) each get their reconciler's
turns: arq names a cron job's run after the job and the tick only, not the queue, so the
same name would let one installation's workers take every tick of the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from arq.constants import result_key_prefix
from arq.utils import to_unix_ms

from service.ledger import leases
from service.settings import GitHubAppSettings, Settings
from tests.app.bot import REPO
from tests.conftest import REDIS_URL
from tests.github_server.server import GitHubTestServer
from tests.polling import wait_for
from tests.queue.plans import sleeping
from tests.queue.support import QueueBot, queue_bot
from workers.arq_settings import worker_settings


def reconcile_cron_name(prefix: str, data_dir: Path, database_url: str) -> str:
    """The name under which an installation with this key prefix runs its reconciler."""
    settings = Settings(data_dir=data_dir, database_url=database_url, redis_url=REDIS_URL,
                        redis_prefix=prefix)
    app = GitHubAppSettings(app_id="1", private_key="unused", webhook_secret="unused")
    [job] = [c for c in worker_settings(settings, app, database_url, REDIS_URL)["cron_jobs"]
             if c.coroutine.__name__ == "reconcile"]
    return str(job.name)


async def dead_lease(bot: QueueBot, environment: str) -> None:
    """A lease whose holder died, already expired."""
    async with await psycopg.AsyncConnection.connect(bot.database_url,
                                                     autocommit=True) as conn:
        assert await leases.acquire(conn, REPO, environment, holder="dead-worker",
                                    request_id=None, ttl=-1)


async def no_lease(bot: QueueBot, environment: str) -> bool:
    return not await bot.fetch("SELECT 1 FROM ledger.leases WHERE environment = %s",
                               environment)


async def test_another_installation_on_the_same_redis_does_not_take_our_reconciler_turns(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    # Another installation's workers ran every reconciler tick of the coming minute (arq
    # leaves a result under each tick's job id; ticks fall at 0.123456 s past the second).
    other = reconcile_cron_name("other-installation:", world["data"], world["bot"])
    now = datetime.now(UTC).replace(microsecond=123_456)
    keys = [f"{result_key_prefix}{other}:{to_unix_ms(now + timedelta(seconds=s))}"
            for s in range(60)]
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        for key in keys:
            await client.set(key, b"taken", ex=60)
        async with queue_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
            await dead_lease(bot, "staging")
            bot.start_worker(sleeping(0), lease_ttl=2.0, reconcile_every=1)
            await wait_for(lambda: no_lease(bot, "staging"), what="the reconciler at startup")
            await dead_lease(bot, "production")  # only a scheduled tick can recover this one
            await wait_for(lambda: no_lease(bot, "production"), limit=15,
                        what="a scheduled run of our reconciler")
    finally:
        await client.delete(*keys)
        await client.aclose()
