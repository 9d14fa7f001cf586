"""Runs of the command line that died without a word (SIGKILL, a closed terminal): each CLI
run records the process running it, and the next `deploybot` command on the same host ends
the runs whose process is gone as `interrupted`, so none stays `running` for ever."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from service.ledger.db import fetch_all
from service.ledger.deployments import Ledger
from service.ledger.rows import ProcessOwnerRow


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat):
    with the pid, it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> dict[str, Any]:
    """What a CLI run records about the process running it."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": _start_time(os.getpid())}


def _alive(owner: dict[str, Any]) -> bool:
    pid = owner.get("pid")
    return isinstance(pid, int) and _start_time(pid) == owner.get("started")


async def end_dead_runs(ledger: Ledger) -> list[int]:
    """Mark `interrupted` every queued or running CLI run of this host whose process is gone;
    their ids."""
    rows = await fetch_all(
        ledger.conn, ProcessOwnerRow,
        """SELECT id, details -> 'process' AS owner FROM ledger.deployments
           WHERE status IN ('queued', 'running') AND trigger = 'cli'
             AND details -> 'process' ->> 'host' = %s""",
        (socket.gethostname(),))
    ended = []
    for row in rows:
        owner = row["owner"] or {}
        if _alive(owner):
            continue
        await ledger.finish(
            int(row["id"]), status="interrupted",
            reason=f"the deploybot process running it (pid {owner.get('pid')}) stopped "
                   "before it finished; what it changed may still be there: "
                   "`deploybot status <environment>` shows what the environment runs",
            stop_the_line="interrupted")
        ended.append(int(row["id"]))
    return ended
