"""What every arq job reports: its duration and outcome, errors, the GitHub calls the
worker made, the rate limit left — added to the counters in Redis — and the log context
(job name, delivery id or request id) bound for every line it logs.

    @observed_job("delivery_id")
    async def handle_delivery(arq_ctx, delivery_id): ...
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis

from service.observability import logs, shared

log = logging.getLogger(__name__)

R = TypeVar("R")
JobFunction = Callable[..., Awaitable[R]]


def observed_job(first_arg: str | None = None) -> Callable[[JobFunction[R]], JobFunction[R]]:
    """Wrap an arq job; `first_arg` names its first argument in the log context."""

    def wrap(fn: JobFunction[R]) -> JobFunction[R]:
        name = fn.__name__

        @functools.wraps(fn)
        async def job(arq_ctx: dict[str, Any], *args: Any, **kwargs: Any) -> R:
            fields: dict[str, Any] = {"job": name}
            if first_arg and args:
                fields[first_arg] = args[0]
            token = logs.bind(**fields)
            started = time.monotonic()
            outcome = "ok"
            try:
                return await fn(arq_ctx, *args, **kwargs)
            except BaseException as exc:
                outcome = "cancelled" if not isinstance(exc, Exception) else "error"
                raise
            finally:
                try:
                    await _record(arq_ctx, name, outcome, time.monotonic() - started)
                finally:
                    logs.reset(token)

        return job

    return wrap


async def _record(arq_ctx: dict[str, Any], name: str, outcome: str, seconds: float) -> None:
    ctx = arq_ctx.get("deploybot")
    if ctx is None:
        return
    redis, prefix = ctx.redis, ctx.prefix
    await shared.observe(redis, prefix, "job_duration_seconds", {"job": name, "outcome": outcome},
                         seconds)
    if outcome == "error":
        await shared.count(redis, prefix, "errors_total", {"component": "worker", "where": name})
    await flush_github(ctx.github, redis, prefix)


async def flush_github(github: Any, redis: Redis, prefix: str) -> None:
    """Move the process's GitHub call counts into Redis, and publish the rate limit left."""
    counter = getattr(github, "counter", None)
    if counter is None or not hasattr(counter, "drain"):
        return
    calls, errors, retries = counter.drain()
    await shared.count_many(redis, prefix, "github_calls_total", [
        ({"method": m, "route": r}, float(n)) for (m, r), n in calls.items() if n > 0])
    await shared.count_many(redis, prefix, "github_errors_total", [
        ({"method": m, "route": r, "reason": why}, float(n))
        for (m, r, why), n in errors.items() if n > 0])
    await shared.count_many(redis, prefix, "github_retries_total", [
        ({"method": m, "route": r}, float(n)) for (m, r), n in retries.items() if n > 0])
    for who, info in _rate_limits(github):
        if info.remaining is not None:
            await shared.set_gauge(redis, prefix, "github_rate_limit_remaining",
                                   {"client": who, "resource": info.resource or "core"},
                                   float(info.remaining))


def _rate_limits(github: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    app_limit = getattr(github, "rate_limit", None)
    if app_limit is not None:
        found.append(("app", app_limit))
    # The App keeps one client per installation; each sees its own installation's limit.
    for installation_id, client in dict(getattr(github, "_installations", {}) or {}).items():
        found.append((f"installation:{installation_id}", client.rate_limit))
    return found
