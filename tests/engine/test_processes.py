"""A step's child process (psql, pg_dump, pytest) dies with the step: cancelled or timed
out, the child is killed and reaped, never left running behind the undo."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from workers.drivers.processes import communicate


async def _sleeper() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_cancelled_job_kills_and_reaps_its_child() -> None:
    proc = await _sleeper()
    task = asyncio.create_task(communicate(proc))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert proc.returncode is not None and not _alive(proc.pid)


async def test_a_timeout_kills_and_reaps_its_child() -> None:
    proc = await _sleeper()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await communicate(proc)
    assert proc.returncode is not None and not _alive(proc.pid)


async def test_output_is_returned_as_bytes() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print('hello')", stdout=asyncio.subprocess.PIPE)
    out, err = await communicate(proc)
    assert (out.strip(), err, proc.returncode) == (b"hello", b"", 0)
