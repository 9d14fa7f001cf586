"""Fixtures for the function host tests: releases on a fresh database and real host
subprocesses (stopped after each test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.functions_host.fnhost_helpers import ANON_KEY
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases


@pytest.fixture
def functions_dir(tmp_path: Path) -> Path:
    """supabase/functions, as in a Supabase project (config.toml goes beside it)."""
    d = tmp_path / "supabase" / "functions"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def releases(fresh_db: str) -> PostgresFunctionReleases:
    return PostgresFunctionReleases(fresh_db)


HostFactory = Callable[..., Awaitable[FunctionHostProcess]]


@pytest.fixture
async def start_host(tmp_path: Path) -> AsyncIterator[HostFactory]:
    """start_host(db_url, **options) -> a host subprocess, stopped afterwards."""
    started: list[FunctionHostProcess] = []

    async def start(db_url: str, *, lazy: bool = False, **options: Any) -> FunctionHostProcess:
        """lazy: not started yet (ensure_started() starts it, as a step would)."""
        options.setdefault("data_dir", tmp_path / "data")
        host = FunctionHostProcess(db_url, options.pop("anon_key", ANON_KEY), **options)
        started.append(host)
        if not lazy:
            await host.start()
        return host

    yield start
    await asyncio.gather(*(h.stop() for h in started))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c
