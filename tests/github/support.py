"""Helpers of the GitHub client tests: a recording sleep, a movable clock."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from service.github import GitHubApp

REPO = "octo/backend"


class Sleeps:
    """Stands in for asyncio.sleep: records what the client asked for, returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Clock:
    """time.time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


MakeApp = Callable[..., Awaitable[GitHubApp]]
