"""A worker running as many deployments as it has job slots keeps renewing every lease: the
renewals must not wait behind the deployments for a database connection, or the leases
expire under live deployments and the reconciler of another worker takes them over."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from service import queue
from service.ledger import requests
from tests.app.bot import REPO
from tests.conftest import REDIS_URL
from tests.github_server.server import GitHubTestServer
from tests.polling import wait_for
from tests.queue.conftest import SPARE
from tests.queue.plans import sleeping
from tests.queue.support import queue_bot
from workers.arq_settings import MAX_JOBS

SLOTS = MAX_JOBS  # a deployment in every job slot of the worker


async def test_leases_stay_renewed_while_every_job_slot_runs_a_deployment(
        world: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    ttl = 3.0  # renewed every second; a loaded machine must not miss it by accident
    async with queue_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        bot.start_worker(sleeping(2 * ttl), lease_ttl=ttl)  # each run outlives the TTL
        redis = await queue.connect(REDIS_URL)
        async with await psycopg.AsyncConnection.connect(
                world["bot"], autocommit=True, row_factory=dict_row) as conn:
            for env in SPARE[:SLOTS]:  # recorded and enqueued as accept() does
                created = await requests.create(conn, requests.NewRequest(
                    repo=REPO, environment=env, kind="deploy", commit_sha=world["sha"],
                    trigger="comment", installation_id=github_server.installation_id))
                await queue.enqueue(redis, redis_prefix, "run_request",
                                    queue.request_job_id(redis_prefix, created.id), created.id)
        await redis.aclose()
        await wait_for(lambda: bot.fetch("SELECT 1 FROM ledger.requests "
                                      "WHERE status = 'running' HAVING count(*) = %s", SLOTS),
                    what="the worker to run a deployment in every slot")
        # Another worker whose reconciler looks for expired leases every second.
        bot.start_worker(sleeping(0), lease_ttl=ttl, reconcile_every=1)
        await wait_for(lambda: bot.fetch("SELECT 1 FROM ledger.requests "
                                      "WHERE status = 'done' HAVING count(*) = %s", SLOTS),
                    what="the deployments to end")
        rows = await bot.fetch("SELECT * FROM ledger.requests ORDER BY id")
        deployments = await bot.fetch("SELECT * FROM ledger.deployments ORDER BY id")
    assert [r["note"] for r in rows] == [None] * SLOTS  # none taken over by the reconciler
    assert [(d["status"], d["stop_the_line"]) for d in deployments] == [
        ("succeeded", None)] * SLOTS
