"""Per-request latency and status, kept in memory for the watch step to sample.

A ring buffer holds the latest requests; lifetime counters keep counting when it wraps, so
a sampler can tell whether the window it asked for is complete.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    at: float  # wall-clock time the request finished (unix seconds)
    slug: str
    status: int
    latency_ms: float


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _latencies(samples: list[Sample]) -> dict[str, float | None]:
    values = sorted(s.latency_ms for s in samples)
    return {
        "p50": _round(percentile(values, 0.50)),
        "p95": _round(percentile(values, 0.95)),
        "p99": _round(percentile(values, 0.99)),
        "max": _round(values[-1] if values else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class RequestMetrics:
    def __init__(self, size: int = 10_000) -> None:
        self.samples: deque[Sample] = deque(maxlen=size)
        self.started_at = time.time()
        self.total_requests = 0
        self.total_errors = 0

    def record(self, slug: str, status: int, latency_ms: float) -> None:
        self.samples.append(Sample(time.time(), slug, status, latency_ms))
        self.total_requests += 1
        if status >= 500:
            self.total_errors += 1

    def summary(self, since: float | None = None) -> dict[str, Any]:
        """Requests that finished after `since` (unix seconds; all held ones when None)."""
        now = time.time()
        held = list(self.samples)
        chosen = [s for s in held if since is None or s.at > since]
        dropped = self.total_requests - len(held)
        # Complete when nothing the caller asked for fell out of the buffer.
        complete = dropped == 0 or (since is not None and bool(held) and held[0].at <= since)
        errors = sum(1 for s in chosen if s.status >= 500)
        statuses: dict[str, int] = {}
        for s in chosen:
            key = f"{s.status // 100}xx"
            statuses[key] = statuses.get(key, 0) + 1
        per_function: dict[str, dict[str, Any]] = {}
        for slug in sorted({s.slug for s in chosen}):
            mine = [s for s in chosen if s.slug == slug]
            bad = sum(1 for s in mine if s.status >= 500)
            per_function[slug] = {"requests": len(mine), "errors": bad,
                                  "error_rate": bad / len(mine),
                                  "latency_ms": _latencies(mine)}
        return {
            "now": now,
            "since": since if since is not None else (held[0].at if held else self.started_at),
            "started_at": self.started_at,
            "complete": complete,
            "requests": len(chosen),
            "errors": errors,
            "error_rate": (errors / len(chosen)) if chosen else 0.0,
            "latency_ms": _latencies(chosen),
            "status": statuses,
            "functions": per_function,
            "totals": {"requests": self.total_requests, "errors": self.total_errors},
            "buffer": {"size": self.samples.maxlen, "held": len(held)},
        }
