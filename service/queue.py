"""The work queue on Redis (arq). Job ids make enqueues idempotent: a delivery or request
enqueued twice runs once. Redis may lose jobs; the reconciler re-enqueues from PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job


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


@dataclass(frozen=True)
class JobSpec:
    function: str
    job_id: str
    args: tuple[Any, ...] = ()
    ahead: bool = False


# arq's enqueue_job, for many jobs in one command: a job is created only when neither it nor
# its result exists (arq checks the same under WATCH/MULTI, one job per round trip).
# KEYS: the queue, then per job its key and its result's key; ARGV: per job its expiry (ms),
# data, score and id.
_ENQUEUE_LUA = """
local created = {}
for i = 0, (#KEYS - 1) / 2 - 1 do
  local job, result = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  if redis.call('exists', job) == 1 or redis.call('exists', result) == 1 then
    created[i + 1] = 0
  else
    redis.call('psetex', job, ARGV[1 + 4 * i], ARGV[2 + 4 * i])
    redis.call('zadd', KEYS[1], ARGV[3 + 4 * i], ARGV[4 + 4 * i])
    created[i + 1] = 1
  end
end
return created
"""


async def enqueue_many(redis: ArqRedis, prefix: str, jobs: Sequence[JobSpec]) -> list[bool]:
    """Enqueue each job once per job id, all in one script call (EVALSHA: one command and one
    round trip, where a pipeline of one call per job cost ~35 µs of Python per job); per job
    whether it was created. The same jobs, keys and scores as `enqueue` (arq's format)."""
    if not jobs:
        return []
    script = redis.register_script(_ENQUEUE_LUA)
    now_ms = int(time.time() * 1000)
    keys: list[str] = [queue_name(prefix)]
    args: list[str | int | bytes] = []
    for job in jobs:
        score = now_ms - int(AHEAD_BY_S * 1000) if job.ahead else now_ms
        data = serialize_job(job.function, job.args, {}, None, now_ms,
                             serializer=redis.job_serializer)
        keys += [job_key_prefix + job.job_id, result_key_prefix + job.job_id]
        args += [score - now_ms + redis.expires_extra_ms, data, score, job.job_id]
    return [bool(r) for r in await script(keys=keys, args=args)]
