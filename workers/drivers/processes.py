"""Child processes (psql, pg_dump, deno) that never outlive the step that started them."""

from __future__ import annotations

import asyncio
import contextlib


async def communicate(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """`proc.communicate()`, but when it is cancelled (a timeout around it, a worker shutting
    down) or fails, the child is killed and reaped before the exception goes on: an orphaned
    pg_dump or psql would keep working on the environment behind the undo's back."""
    try:
        out, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        raise
    return out or b"", err or b""
