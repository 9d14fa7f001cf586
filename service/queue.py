"""The work queue on Redis (arq). Job ids make enqueues idempotent: a delivery or request
enqueued twice runs once. Redis may lose jobs; the reconciler re-enqueues from PostgreSQL."""

from __future__ import annotations

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


async def enqueue(redis: ArqRedis, prefix: str, function: str, job_id: str,
                  *args: Any, defer_by: float | None = None) -> bool:
    """Enqueue `function(*args)` once per job id; False if that job already exists."""
    job = await redis.enqueue_job(function, *args, _job_id=job_id,
                                  _queue_name=queue_name(prefix), _defer_by=defer_by)
    return job is not None
