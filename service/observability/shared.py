"""Counters and histograms shared by every process through Redis.

What PostgreSQL knows (deliveries, deployments, steps, the queue) is read from it at scrape
time; what only a process sees (job durations, GitHub calls and rate limits, errors, webhook
answers) is added to Redis hashes here, so whichever web process serves `/metrics` reports
the whole fleet. One hash per metric; a field is the label set as JSON (plus `le`, `sum` and
`count` for histograms)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service.redis_calls import awaited

log = logging.getLogger(__name__)

DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
                                       600, 1800, 3600)


def key(prefix: str, metric: str) -> str:
    return f"{prefix}metrics:{metric}"


def _field(labels: Mapping[str, str], **extra: str) -> str:
    return json.dumps({**labels, **extra}, sort_keys=True, separators=(",", ":"))


async def count(redis: Redis, prefix: str, metric: str, labels: Mapping[str, str],
                amount: float = 1.0) -> None:
    """Add to a counter. Metrics must never break the work they measure: errors are logged."""
    try:
        await awaited(redis.hincrbyfloat(key(prefix, metric), _field(labels), amount))
    except Exception:
        log.warning("could not record metric %s", metric, exc_info=True)


class BufferedCounters:
    """Counter increments kept in this process and added to Redis together, about once a
    second: a webhook's answer is counted without a Redis round trip of its own."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], float] = {}
        # A label set's field, encoded once: a few label sets are counted on every request.
        self._fields: dict[tuple[tuple[str, str], ...], str] = {}

    def add(self, metric: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        labelled = tuple(labels.items())
        field = self._fields.get(labelled)
        if field is None:
            field = _field(labels)
            if len(self._fields) < 1000:  # label values are few; bound it all the same
                self._fields[labelled] = field
        slot = (metric, field)
        self._pending[slot] = self._pending.get(slot, 0.0) + amount

    async def flush(self, redis: Redis, prefix: str) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            pipe = redis.pipeline(transaction=False)
            for (metric, field), amount in pending.items():
                pipe.hincrbyfloat(key(prefix, metric), field, amount)
            await pipe.execute()
        except Exception:
            log.warning("could not record metrics; kept for the next flush", exc_info=True)
            for slot, amount in pending.items():
                self._pending[slot] = self._pending.get(slot, 0.0) + amount

    async def flush_every(self, redis: Redis, prefix: str, seconds: float = 1.0) -> None:
        """Run until cancelled, flushing every `seconds` (and once more at the end)."""
        try:
            while True:
                await asyncio.sleep(seconds)
                await self.flush(redis, prefix)
        finally:
            await self.flush(redis, prefix)


async def count_many(redis: Redis, prefix: str, metric: str,
                     items: Sequence[tuple[Mapping[str, str], float]]) -> None:
    if not items:
        return
    try:
        pipe = redis.pipeline(transaction=False)
        for labels, amount in items:
            pipe.hincrbyfloat(key(prefix, metric), _field(labels), amount)
        await pipe.execute()
    except Exception:
        log.warning("could not record metric %s", metric, exc_info=True)


async def set_gauge(redis: Redis, prefix: str, metric: str, labels: Mapping[str, str],
                    value: float) -> None:
    try:
        await awaited(redis.hset(key(prefix, metric), _field(labels), repr(float(value))))
    except Exception:
        log.warning("could not record metric %s", metric, exc_info=True)


async def observe(redis: Redis, prefix: str, metric: str, labels: Mapping[str, str],
                  value: float, buckets: Sequence[float] = DURATION_BUCKETS) -> None:
    """Record one observation of a histogram (cumulative buckets, as Prometheus wants)."""
    try:
        pipe = redis.pipeline(transaction=False)
        k = key(prefix, metric)
        for bound in buckets:
            if value <= bound:
                pipe.hincrbyfloat(k, _field(labels, le=repr(float(bound))), 1)
        pipe.hincrbyfloat(k, _field(labels, le="+Inf"), 1)
        pipe.hincrbyfloat(k, _field(labels, le="sum"), value)
        await pipe.execute()
    except Exception:
        log.warning("could not record metric %s", metric, exc_info=True)


@dataclass
class Series:
    labels: dict[str, str]
    value: float


async def read(redis: Redis, prefix: str, metric: str) -> list[Series]:
    raw: dict[Any, Any] = await awaited(redis.hgetall(key(prefix, metric)))
    out = []
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        try:
            labels = json.loads(name)
            number = float(value.decode() if isinstance(value, bytes) else value)
        except ValueError:
            continue
        if isinstance(labels, dict):
            out.append(Series({str(k): str(v) for k, v in labels.items()}, number))
    return out


@dataclass
class HistogramSeries:
    labels: dict[str, str]
    buckets: list[tuple[str, float]]  # (le, cumulative count), +Inf last
    total: float


async def read_histogram(redis: Redis, prefix: str, metric: str,
                         buckets: Sequence[float] = DURATION_BUCKETS) -> list[HistogramSeries]:
    grouped: dict[str, dict[str, float]] = {}
    label_sets: dict[str, dict[str, str]] = {}
    for s in await read(redis, prefix, metric):
        le = s.labels.pop("le", None)
        if le is None:
            continue
        ident = _field(s.labels)
        label_sets[ident] = s.labels
        grouped.setdefault(ident, {})[le] = s.value
    out = []
    for ident, values in grouped.items():
        counts = [(repr(float(b)), values.get(repr(float(b)), 0.0)) for b in buckets]
        counts.append(("+Inf", values.get("+Inf", 0.0)))
        out.append(HistogramSeries(label_sets[ident], counts, values.get("sum", 0.0)))
    return out
