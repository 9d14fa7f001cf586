"""When to retry a GitHub call and how long to wait first.

GitHub's rules (docs "Rate limits for the REST API"): honour `retry-after`; else, when
`x-ratelimit-remaining` is 0, wait until `x-ratelimit-reset`; else wait at least a minute.
5xx answers and timeouts are retried with bounded exponential backoff (service.retrying's
formula; jittered in the policy GitHubApp uses by default).
"""

from __future__ import annotations

import email.utils
import json
from dataclasses import dataclass

import httpx

from service.retrying import backoff


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # attempts in all, the first one included
    base_delay: float = 1.0  # first backoff after a 5xx or timeout, doubled each time
    max_delay: float = 30.0  # cap of that backoff
    min_backoff: float = 60.0  # rate limited without a hint of how long: wait at least this
    max_wait: float = 900.0  # a longer rate-limit wait raises GitHubRateLimited instead
    # Up to this much is added at random to each 5xx/timeout backoff, so that processes
    # failing together do not retry together. 0 here, so a policy built for a test waits
    # exactly what it says; DEFAULT_POLICY (what GitHubApp uses unless given one) has 1 s.
    jitter: float = 0.0

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based) of a 5xx or timeout."""
        return backoff(attempt, first=self.base_delay, cap=self.max_delay, jitter=self.jitter)


DEFAULT_POLICY = RetryPolicy(jitter=1.0)


@dataclass
class RateLimitInfo:
    """The last `x-ratelimit-*` headers seen (None until a response carried them)."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None  # epoch seconds
    resource: str | None = None

    def observe(self, headers: httpx.Headers) -> None:
        remaining = _int(headers.get("x-ratelimit-remaining"))
        if remaining is None:
            return
        self.remaining = remaining
        self.limit = _int(headers.get("x-ratelimit-limit"))
        self.reset = _int(headers.get("x-ratelimit-reset"))
        self.resource = headers.get("x-ratelimit-resource")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after_seconds(value: str, now: float) -> float | None:
    """`Retry-After` is seconds, or (rarely) an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def is_rate_limited(response: httpx.Response) -> bool:
    """429 always; 403 only with a rate-limit sign (else it is a permission error)."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if "retry-after" in response.headers or response.headers.get("x-ratelimit-remaining") == "0":
        return True
    try:
        message = json.loads(response.content).get("message", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(message, str) and "rate limit" in message.lower()


def rate_limit_wait(response: httpx.Response, now: float, policy: RetryPolicy) -> float:
    """Seconds to wait before retrying a rate-limited response."""
    headers = response.headers
    if "retry-after" in headers:
        seconds = _retry_after_seconds(headers["retry-after"], now)
        if seconds is not None:
            return seconds
    reset = _int(headers.get("x-ratelimit-reset"))
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        return max(0.0, reset - now) + 1.0  # the reset second itself, and a little clock skew
    return policy.min_backoff
