"""The work queue on Redis (arq). Job ids make enqueues idempotent: a delivery or request
enqueued twice runs once. Redis may lose jobs; the reconciler re-enqueues from PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings


def queue_name(prefix: str) -> str:
    return f"{prefix}queue"


def delivery_job_id(prefix: str, delivery_id: str) -> str:
    return f"{prefix}delivery:{delivery_id}"


def request_job_id(prefix: str, request_id: int, attempt: int = 0) -> str:
    return f"{prefix}request:{request_id}:{attempt}"


async def connect(redis_url: str) -> ArqRedis:
    settings = RedisSettings.from_dsn(redis_url)
    settings.conn_timeout = 2
    settings.conn_retries = 1
    return await create_pool(settings)


# arq runs the lowest score first (the enqueue time): `ahead` jobs are scored this much
# earlier, within the job's expiry (a day).
AHEAD_BY_S = 600.0


async def enqueue(redis: ArqRedis, prefix: str, function: str, job_id: str,
                  *args: Any, defer_by: float | None = None, ahead: bool = False) -> bool:
    """Enqueue `function(*args)` once per job id; False if that job already exists.

    `ahead` puts the job before everything already waiting: a deployment whose turn has come
    must not wait behind a burst of webhooks (benchmarks/webhook_burst.py)."""
    until = datetime.fromtimestamp(time.time() - AHEAD_BY_S, UTC) if ahead else None
    job = await redis.enqueue_job(function, *args, _job_id=job_id,
                                  _queue_name=queue_name(prefix), _defer_by=defer_by,
                                  _defer_until=until)
    return job is not None
