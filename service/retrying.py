"""Backoff for every in-process retry, in one place.

Bounded retries go through stamina (`retry_context`): exponential waits with jitter, a cap on
attempts and optionally a total deadline, and a test mode (`stamina.set_testing`) that makes
them instant. Jitter spreads the reconnections of many processes after one outage instead of
sending them all at the same instants.

`backoff` is the same formula for the few loops stamina cannot run: supervisors that retry
forever and restart their count after each success, and the GitHub requester, whose waits go
through an injected sleep (its tests check what it asked to wait).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterable, Callable

import stamina
from stamina.instrumentation import set_on_retry_hooks

# Each loop logs its own retries (with what failed and where); stamina's default hooks would
# log every one a second time and count it in a Prometheus registry /metrics never shows.
set_on_retry_hooks([])


def backoff(attempt: int, *, first: float, cap: float, jitter: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): `first` doubled per
    attempt, plus up to `jitter` (default: `first`) at random, at most `cap` — stamina's
    formula, with its default jitter scaled to the caller's first wait."""
    spread = first if jitter is None else jitter
    extra = random.uniform(0.0, spread) if spread > 0 else 0.0  # noqa: S311 (not a secret)
    return float(min(cap, first * 2 ** (attempt - 1) + extra))


# What to retry on: exception types, or a hook returning False, True or the seconds to wait.
RetryOn = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool | float]


def retry_context(on: RetryOn, *, attempts: int, first: float, cap: float,
                  within: float | None = None) -> AsyncIterable[stamina.Attempt]:
    """stamina's retry loop with `backoff`'s parameters: at most `attempts` attempts, and
    none started after `within` seconds (None: no deadline). A hook given as `on` returns the
    seconds to wait when the failure says how long (a Retry-After)."""
    return stamina.retry_context(on, attempts=attempts, timeout=within, wait_initial=first,
                                 wait_max=cap, wait_jitter=first)
