"""redis-py types its hash and scripting commands for the sync and async clients at once
(`Awaitable[T] | T`); `awaited` gives strict mypy the async half, checked at run time."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def awaited(value: Awaitable[T] | T) -> T:
    if inspect.isawaitable(value):
        return await value
    return value
