"""preflight: everything that can be checked before anything changes.

Tool versions (psql/pg_dump of the server's major version), the functions' unit tests at the
pinned commit, and the migration lint. It also works out the plan — which migrations are
pending and whether the functions changed — and stops early when there is nothing to do.
Last, it takes the environment's fingerprint; its undo, run after every other step's undo,
compares the environment with it (workers/runbook/fingerprint.py).
"""

from __future__ import annotations

import asyncio
import os
import sys

from service.pgtools import ToolNotFound
from workers.drivers.functions import digest_of
from workers.drivers.interfaces import DatabaseUnavailable, MigrationFile
from workers.drivers.processes import communicate
from workers.runbook import migration_files
from workers.runbook.context import DeployContext
from workers.runbook.engine import UpToDate
from workers.runbook.events import Annotation
from workers.runbook.step import Step, StepFailed
from workers.steps import fingerprint_check

UNIT_TEST_TIMEOUT = 300


async def _tool_versions(ctx: DeployContext) -> str:
    db = ctx.environment.database
    version = await db.server_version_num()
    try:
        tools = db.tools(version)
    except ToolNotFound as exc:
        raise StepFailed(str(exc), stop_the_line="required tools missing") from None
    lines = [f"server: PostgreSQL {version // 10000}.{version % 10000} "
             f"({db.redacted_url})"]
    for program in (tools.psql, tools.pg_dump, tools.pg_restore):
        proc = await asyncio.create_subprocess_exec(
            program, "--version", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await communicate(proc)
        lines.append(out.decode(errors="replace").strip())
    return "\n".join(lines)


async def _unit_tests(ctx: DeployContext) -> str:
    functions = ctx.source.path(ctx.config.paths.functions)
    if not functions.is_dir():
        return f"no functions directory ({ctx.config.paths.functions}): no unit tests to run"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
        ctx.config.paths.functions, cwd=ctx.source.root, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(UNIT_TEST_TIMEOUT):
            out, _ = await communicate(proc)
    except TimeoutError:
        raise StepFailed(f"the functions' unit tests did not finish within "
                         f"{UNIT_TEST_TIMEOUT} s", stop_the_line="unit tests failed") from None
    text = out.decode(errors="replace").strip()
    if proc.returncode == 5:  # pytest: no tests collected
        return f"no unit tests found in {ctx.config.paths.functions}"
    if proc.returncode != 0:
        raise StepFailed("the functions' unit tests failed at this commit",
                         output=text[-20_000:], stop_the_line="unit tests failed")
    last = text.splitlines()[-1] if text else "passed"
    return f"unit tests: {last}"


async def _plan(ctx: DeployContext) -> tuple[list[str], bool]:
    """Lint the migrations; record what is pending; tell whether functions changed."""
    paths = ctx.config.paths
    found = migration_files.discover(ctx.source.root, paths.migrations, paths.rollbacks)
    applied = await ctx.environment.database.applied_migrations()
    problems = migration_files.lint(
        found, applied, require_rollbacks=ctx.environment.config.requires_rollback_scripts)
    errors = [p for p in problems if not p.warning]
    if errors:
        raise StepFailed(
            f"migration lint: {len(errors)} problem(s); first: {errors[0].message}",
            output="\n".join(f"{p.path}:{p.line}: {p.message}" for p in problems),
            annotations=[Annotation(p.path, p.line, p.message, "deploybot lint")
                         for p in errors],
            stop_the_line="migration lint",
        )
    pending = migration_files.pending(found, applied)
    ctx.state["pending"] = pending
    await ctx.journal("pending", [m.version for m in pending])
    lines = [f"migrations: {len(applied)} applied, {len(pending)} pending"]
    lines += [f"  + {m.relpath}" for m in pending]
    lines += [f"  ! {p.path}:{p.line}: {p.message}" for p in problems if p.warning]
    fdir = ctx.source.path(paths.functions)
    active = await ctx.environment.functions.active()
    digest = digest_of(fdir) if fdir.is_dir() else None
    functions_changed = digest is not None and (active is None or active.digest != digest)
    ctx.state["functions_digest"] = digest
    if functions_changed:
        lines.append(f"functions: new release from {ctx.source.commit[:12]} "
                     f"(active: {'release ' + str(active.id) if active else 'none'})")
    else:
        lines.append("functions: unchanged")
    return lines, bool(pending) or functions_changed


async def run(ctx: DeployContext) -> None:
    await ctx.progress("checking tools and migrations")
    try:
        tools, (lines, changes) = await asyncio.gather(_tool_versions(ctx), _plan(ctx))
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    await ctx.output(tools)
    await ctx.output("\n".join(lines))
    if not changes and not ctx.dry_run:
        # Same content as what runs: a quick success, without running the tests again.
        raise UpToDate(f"{ctx.environment.name} already runs what {ctx.source.commit[:12]} "
                       "holds: no pending migrations, functions unchanged")
    if not ctx.dry_run:
        await _fingerprint(ctx)
    await ctx.progress("running the functions' unit tests")
    await ctx.output(await _unit_tests(ctx))


async def _fingerprint(ctx: DeployContext) -> None:
    """The environment before anything changes, for `undo` to compare with."""
    pending: list[MigrationFile] = ctx.state.get("pending") or []
    smoke = ctx.source.path(ctx.config.paths.smoke)
    await fingerprint_check.remember(ctx, [
        *(m.sql for m in pending), *(m.rollback_sql or "" for m in pending),
        smoke.read_text(errors="replace") if smoke.is_file() else ""])


PREFLIGHT = Step(name="preflight", title="Preflight checks", run=run, read_only=True,
                 undo=fingerprint_check.verify, undo_verifies=True,
                 runbook="Required tools; Run unit tests; Verify migrations")
