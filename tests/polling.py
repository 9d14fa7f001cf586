"""Waiting for something another process does: one poller for every test.

A generous limit, never a timing assertion: it only turns a hang into a failure that names
what never happened."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(check: Callable[[], T | Awaitable[T]], limit: float = 90.0,
                   what: str = "condition") -> T:
    """Call `check` (plain or async) until it returns something true, and return that."""
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]  # awaited above when it was awaitable
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
