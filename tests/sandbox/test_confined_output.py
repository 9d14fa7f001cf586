"""What a confined command prints is kept within bounds: pull-request code that prints
without end cannot fill the worker's memory, and a command cut off by its timeout still
shows what it printed (which test hung)."""

from __future__ import annotations

import shutil

import pytest

from workers.sandbox.policy import Policy
from workers.sandbox.runner import run_confined

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (.ci/test installs it)")


async def test_only_the_last_part_of_endless_output_is_kept() -> None:
    script = "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo the last line"
    done = await run_confined(["sh", "-c", script], Policy(), timeout_s=120,
                              max_output=100_000)
    assert done.returncode == 0
    assert len(done.output) < 100_100
    assert done.output.startswith("[")
    assert "bytes of output left out" in done.output.splitlines()[0]
    assert done.output.rstrip().endswith("the last line")


async def test_a_command_cut_off_by_its_timeout_shows_what_it_printed() -> None:
    done = await run_confined(["sh", "-c", "echo waiting for ever; exec sleep 600"], Policy(),
                              timeout_s=3)
    assert done.timed_out
    assert "waiting for ever" in done.output
