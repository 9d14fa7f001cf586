"""The Supabase CLI for interop tests: installed once from npm into .deploybot/tools/.

`npm install supabase@<version>` brings the CLI's binary in a platform package
(@supabase/cli-linux-x64), so it needs only the npm registry. When it cannot be installed
(no npm, no registry), the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

VERSION = "2.117.0"
PREFIX = REPO / ".deploybot" / "tools" / f"supabase-{VERSION}"
BINARY = PREFIX / "node_modules" / ".bin" / "supabase"
# No telemetry, no update check: tests talk to nothing but the local server.
QUIET = {"DO_NOT_TRACK": "1", "SUPABASE_TELEMETRY_DISABLED": "1",
         "SUPABASE_NO_UPDATE_NOTIFIER": "1"}


def _version_ok() -> bool:
    if not BINARY.exists():
        return False
    try:
        out = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True,
                             timeout=60, env=os.environ | QUIET)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == VERSION


def install() -> str | None:
    """Install the CLI unless it is there; None when usable, else why not."""
    if _version_ok():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed (apt-get install npm)"
    PREFIX.mkdir(parents=True, exist_ok=True)
    with open(PREFIX.parent / f".supabase-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time
        if _version_ok():
            return None
        try:
            out = subprocess.run(
                [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund",
                 "--no-save", f"supabase@{VERSION}"],
                capture_output=True, text=True, timeout=600, env=os.environ | QUIET)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"npm install supabase@{VERSION} failed: {exc}"
        if out.returncode != 0:
            tail = " ".join(out.stderr.strip().splitlines()[-3:])
            return f"npm install supabase@{VERSION} failed: {tail}"
    if not _version_ok():
        return f"supabase@{VERSION} installed but `supabase --version` does not answer {VERSION}"
    return None


def require() -> Path:
    """The CLI's path, or skip the test with the reason it cannot be had."""
    why = install()
    if why is not None:
        pytest.skip(f"Supabase CLI unavailable: {why}")
    return BINARY


def cli_url(url: str) -> str:
    """The CLI refuses a plain local server without sslmode=disable, and cannot parse a
    unix-socket URL (use a TCP one)."""
    if "sslmode=" in url:
        return url
    return url + ("&" if "?" in url else "?") + "sslmode=disable"


def workdir(tmp: Path, migrations_dir: Path) -> Path:
    """A Supabase project directory holding copies of the migration files."""
    target = tmp / "supabase" / "migrations"
    target.mkdir(parents=True, exist_ok=True)
    for f in sorted(migrations_dir.glob("*.sql")):
        shutil.copy2(f, target / f.name)
    return tmp


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cli = require()
    return subprocess.run([str(cli), *args, "--workdir", str(cwd)], capture_output=True,
                          text=True, timeout=300, env=os.environ | QUIET, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def migration_list(url: str, cwd: Path) -> list[dict[str, str]]:
    out = run(["migration", "list", "--db-url", cli_url(url), "--output-format", "json"], cwd)
    assert out.returncode == 0, out.stderr + out.stdout
    rows: list[dict[str, str]] = json.loads(out.stdout)["migrations"]
    return rows
