"""service.retrying: one backoff formula (jittered), stamina's loop with our parameters, and
the loops built on them (Retry-After as the wait; a deadline on reconnecting)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from service.github.ratelimit import DEFAULT_POLICY, RetryPolicy
from service.retrying import backoff, retry_context
from workers.drivers.database import PostgresDatabase
from workers.drivers.interfaces import DatabaseUnavailable
from workers.drivers.supabase_api import MAX_RETRY_AFTER_S, _Busy, _retry_wait


def test_backoff_doubles_to_its_cap_and_adds_at_most_the_first_wait() -> None:
    assert [backoff(n, first=0.5, cap=5.0, jitter=0.0) for n in range(1, 7)] == [
        0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    for n in range(1, 7):
        lower = min(5.0, 0.5 * 2 ** (n - 1))
        waits = {backoff(n, first=0.5, cap=5.0) for _ in range(50)}
        assert all(lower <= w <= min(5.0, lower + 0.5) for w in waits)
        if lower < 5.0:
            assert len(waits) > 1  # jittered, not one fixed value


def test_githubs_default_policy_jitters_and_a_built_one_waits_exactly() -> None:
    assert RetryPolicy(base_delay=1.0).backoff(2) == 2.0
    waits = {DEFAULT_POLICY.backoff(1) for _ in range(50)}
    assert len(waits) > 1 and all(1.0 <= w <= 2.0 for w in waits)


async def test_a_hook_returning_seconds_sets_the_wait_and_attempts_are_bounded() -> None:
    seen: list[float] = []

    def hook(exc: Exception) -> bool | float:
        return 0.0 if isinstance(exc, ValueError) else False

    started = time.monotonic()
    with pytest.raises(ValueError):
        async for attempt in retry_context(hook, attempts=4, first=10.0, cap=10.0):
            with attempt:
                seen.append(time.monotonic())
                raise ValueError("busy")
    assert len(seen) == 4
    assert time.monotonic() - started < 1  # the hook's 0 s, not the 10 s backoff


async def test_no_attempt_starts_after_the_deadline() -> None:
    tries = 0
    started = time.monotonic()
    with pytest.raises(OSError):
        async for attempt in retry_context(OSError, attempts=100, first=0.05, cap=0.05,
                                           within=0.3):
            with attempt:
                tries += 1
                raise OSError("down")
    assert 2 <= tries < 100
    assert time.monotonic() - started < 1.5


def _response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_supabase_retry_after_is_the_wait_capped_and_errors_use_the_backoff() -> None:
    assert _retry_wait(_Busy(_response(429, **{"retry-after": "7"}))) == 7.0
    assert _retry_wait(_Busy(_response(503, **{"retry-after": "86400"}))) == MAX_RETRY_AFTER_S
    assert _retry_wait(_Busy(_response(502))) is True
    assert _retry_wait(_Busy(_response(503, **{"retry-after": "soon"}))) is True
    assert _retry_wait(httpx.ConnectError("refused")) is True
    assert _retry_wait(RuntimeError("a bug")) is False


async def test_reconnecting_stops_at_connect_within() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    db = PostgresDatabase(f"postgresql://deployer:hunter2@127.0.0.1:{port}/app",
                          connect_retries=1000, retry_delay=0.05, max_delay=0.05,
                          connect_within=0.5)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        await db.server_version_num()
    assert time.monotonic() - started < 3
    assert "after 1000 attempts" not in str(caught.value)
    assert "hunter2" not in str(caught.value)
