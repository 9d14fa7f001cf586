"""Migration safety lint: squawk over the pending migrations, in preflight.

squawk (the `squawk-cli` wheel: a Rust binary) finds what hurts a live database: table
rewrites, locks that block writes (or reads), index builds that are not concurrent,
constraints validated under a lock. Its findings become annotations at their file and
line: warnings (the deployment goes on), or a preflight failure where the environment
says `squawk: block`.

It runs as the pinned commit's files are applied: each file in a transaction
(`--assume-in-transaction`) against the server's major version. The rules about what
deploybot does itself (lock and statement timeouts: set per file) and style rules (int
sizes, text types) are left out. A `.squawk.toml` in the pull request is not read: the
lint's settings, like the gates, are not the pull request's to loosen.
"""

from __future__ import annotations

import asyncio
import json
import sysconfig
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from workers.drivers.interfaces import DatabaseUnavailable, MigrationFile
from workers.drivers.processes import communicate
from workers.runbook.context import DeployContext
from workers.runbook.events import Annotation
from workers.runbook.step import StepFailed

PACKAGE = "squawk-cli"
FIX = (f"install squawk with deploybot's dependencies (`pip install {PACKAGE}`), or set "
       f"`squawk: off` on the environment in .github/deploybot.yml")
TIMEOUT = 60  # seconds; squawk parses, it never connects
MAX_ANNOTATIONS = 40  # GitHub takes 50 per request; leave room for the rest
EXCLUDED = (
    "require-lock-timeout",  # deploybot sets lock_timeout for every file
    "require-statement-timeout",  # and statement_timeout where configured
    "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
    "prefer-text-field", "prefer-timestamptz", "ban-char-field",  # style, not safety
)
STOP = "migration lint"


class SquawkMissing(Exception):
    """The squawk binary cannot be found; the message names the fix."""


@dataclass(frozen=True)
class Finding:
    relpath: str
    line: int  # 1-based
    rule: str
    message: str
    help: str = ""

    def text(self) -> str:
        tail = f" ({self.help})" if self.help else ""
        return f"{self.relpath}:{self.line}: {self.rule}: {self.message}{tail}"


def binary() -> Path:
    """The squawk executable the `squawk-cli` package installed (its wheel puts it among
    the environment's scripts)."""
    try:
        files = metadata.distribution(PACKAGE).files or []
    except metadata.PackageNotFoundError:
        raise SquawkMissing(f"the {PACKAGE} package is not installed: {FIX}") from None
    for f in files:
        if f.name == "squawk":
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                return path
    path = Path(sysconfig.get_path("scripts")) / "squawk"
    if path.is_file():
        return path
    raise SquawkMissing(f"the {PACKAGE} package holds no squawk executable here: {FIX}")


async def lint(migrations: list[MigrationFile], server_version_num: int) -> list[Finding]:
    """squawk's findings on the files, in file and line order."""
    if not migrations:
        return []
    exe = binary()
    by_path = {str(m.path): m.relpath for m in migrations}
    major = server_version_num // 10000
    args = [str(exe), "--reporter", "json", "--assume-in-transaction",
            f"--pg-version={major}.0", *(f"--exclude={rule}" for rule in EXCLUDED),
            *by_path]
    # A neutral working directory: squawk would read a .squawk.toml from the pull request.
    with tempfile.TemporaryDirectory(prefix="deploybot-squawk-") as cwd:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(TIMEOUT):
                out, err = await communicate(proc)
        except TimeoutError:
            raise StepFailed(f"squawk did not finish within {TIMEOUT} s",
                             stop_the_line=STOP) from None
    try:
        raw: Any = json.loads(out.decode("utf-8", "replace") or "[]")
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, list):  # exit 1 means findings; anything else is squawk failing
        said = (err or out).decode("utf-8", "replace").strip().splitlines()
        raise StepFailed(f"squawk failed (exit {proc.returncode}): "
                         f"{said[-1] if said else 'no message'}", stop_the_line=STOP)
    found = [Finding(relpath=by_path.get(str(f.get("file")), str(f.get("file"))),
                     line=int(f.get("line") or 0) + 1, rule=str(f.get("rule_name") or ""),
                     message=str(f.get("message") or ""), help=str(f.get("help") or ""))
             for f in raw if isinstance(f, dict)]
    return sorted(found, key=lambda f: (f.relpath, f.line, f.rule))


async def lint_pending(ctx: DeployContext, pending: list[MigrationFile]) -> None:
    """Lint the pending migrations; annotate findings as warnings, or stop preflight
    where the environment blocks on them."""
    mode = ctx.environment.config.squawk
    if mode == "off" or not pending:
        return
    try:
        found = await lint(pending, await ctx.environment.database.server_version_num())
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    except SquawkMissing as exc:
        if mode == "block":
            raise StepFailed(f"migration safety lint: {exc}", stop_the_line=STOP) from None
        await ctx.output(f"squawk: not run: {exc}")
        return
    if not found:
        await ctx.output(f"squawk: no findings in {len(pending)} pending migration(s)")
        return
    text = "\n".join(f.text() for f in found)
    level = "failure" if mode == "block" else "warning"
    notes = [Annotation(f.relpath, f.line, f"{f.message}" + (f"\n{f.help}" if f.help else ""),
                        f"squawk: {f.rule}", level) for f in found[:MAX_ANNOTATIONS]]
    more = (f"\n(and {len(found) - MAX_ANNOTATIONS} more findings than annotations)"
            if len(found) > MAX_ANNOTATIONS else "")
    if mode == "block":
        raise StepFailed(
            f"migration safety lint: {len(found)} squawk finding(s) and "
            f"`squawk: block` on {ctx.environment.name}; first: {found[0].text()}",
            output=text + more, annotations=notes, stop_the_line=STOP)
    await ctx.annotate(f"squawk: {len(found)} finding(s) (warnings):\n{text}{more}", notes)
