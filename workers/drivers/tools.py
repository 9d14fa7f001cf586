"""Running a PostgreSQL client program (psql, pg_dump, pg_restore) to its end."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workers.drivers.processes import communicate


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: str
    stderr: str


async def run_tool(argv: Sequence[str], env: Mapping[str, str], *,
                   cwd: Path | None = None) -> ToolResult:
    """Run a PostgreSQL client program and collect its output (text, replacing bad bytes)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=dict(env), cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await communicate(proc)
    assert proc.returncode is not None
    return ToolResult(proc.returncode, out.decode("utf-8", "replace"),
                      err.decode("utf-8", "replace"))


def last_lines(text: str, n: int = 6) -> str:
    """The last `n` non-blank lines of a tool's output, on one line."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])
