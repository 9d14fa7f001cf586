"""preflight: everything that can be checked before anything changes.

Tool versions (psql/pg_dump of the server's major version), the functions' Deno check and
tests at the pinned commit (sandboxed), and the migration lint. It also works out the plan —
which migrations are pending and whether the functions changed — and stops early when there
is nothing to do. Last, it takes the environment's fingerprint; its undo, run after every
other step's undo, compares the environment with it (workers/runbook/fingerprint.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.pgtools import ToolNotFound
from workers.drivers.functions import digest_of
from workers.drivers.interfaces import DatabaseUnavailable, MigrationFile
from workers.drivers.processes import communicate
from workers.repository import migration_files
from workers.repository.function_files import FunctionLayoutError, config_toml_path, discover
from workers.runbook import extensions, squawk
from workers.runbook.context import DeployContext
from workers.runbook.deno_tests import DenoResult, run_deno_tests
from workers.runbook.engine import UpToDate
from workers.runbook.events import Annotation
from workers.runbook.step import Step, StepFailed
from workers.steps import fingerprint_check


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


async def _unit_tests(ctx: DeployContext) -> DenoResult:
    """deno check and deno test of the functions, sandboxed (workers/runbook/deno_tests)."""
    return await run_deno_tests(ctx.source.root, ctx.config.paths.functions)


def _slugs(functions_dir: Path) -> tuple[str, ...] | None:
    """The Supabase functions a release of `functions_dir` holds; None when its layout is
    not valid (the Deno step says what is wrong)."""
    try:
        return discover(functions_dir, config_toml_path(functions_dir)).slugs
    except FunctionLayoutError:
        return None


def _function_names(functions_dir: Path) -> str:
    """The Supabase functions a release of `functions_dir` holds, for the plan."""
    slugs = _slugs(functions_dir)
    if slugs is None:
        return "no valid function layout"
    return ", ".join(slugs) or "no function"


PLAN = "**Plan for `{environment}`**\n\n- migrations: {migrations}\n- functions: {functions}"


def _names(names: list[str] | tuple[str, ...], limit: int = 20) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def plan_text(environment: str, pending: list[MigrationFile], applied: int,
              last_applied: str | None, functions_changed: bool,
              slugs: tuple[str, ...] | None) -> tuple[str, str]:
    """(a one-line note, the plan in Markdown): which migration files would run and which
    functions would be released, by name; or, with nothing to do, what is there already."""
    if pending:
        migrations = f"apply {len(pending)}: " + _names([m.relpath.rsplit('/', 1)[-1]
                                                         for m in pending])
    else:
        migrations = f"none pending ({applied} applied" + (
            f", the latest `{last_applied}`)" if last_applied else ")")
    named = _names(slugs) if slugs else "none" if slugs is not None else "an invalid layout"
    functions = (f"a new release of {named}" if functions_changed
                 else f"unchanged ({named})" if slugs else "none")
    # the step table's note stays short; the plan (the section) names every file
    short = (f"apply {len(pending)} migration{'s' if len(pending) != 1 else ''}" if pending
             else "no migration")
    note = (f"plan: {short}; functions: {functions}" if pending or functions_changed
            else f"nothing to do: migrations {migrations}; functions {functions}")
    return note.replace("`", ""), PLAN.format(environment=environment,
                                              migrations=migrations, functions=functions)


async def _extensions_available(ctx: DeployContext, pending: list[MigrationFile]) -> None:
    """Fail before anything changes when a pending migration creates an extension the
    server cannot install."""
    wanted = extensions.needed(pending)
    if not wanted:
        return
    db = ctx.environment.database
    rows = await db.fetch("SELECT name FROM pg_catalog.pg_available_extensions")
    absent = extensions.missing(wanted, (str(r["name"]) for r in rows),
                                await db.server_version_num() // 10000)
    if absent:
        names = ", ".join(sorted({n.extension for n, _ in absent}))
        raise StepFailed(
            f"pending migrations need extension(s) the database server lacks: {names}; "
            f"first: {absent[0][1]}",
            output="\n".join(f"{n.relpath}:{n.line}: {why}" for n, why in absent),
            annotations=[Annotation(n.relpath, n.line, why, "deploybot extensions")
                         for n, why in absent],
            stop_the_line="missing extension")


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
    await _extensions_available(ctx, pending)
    ctx.state.pending = pending
    await ctx.journal("pending", [m.version for m in pending])
    lines = [f"migrations: {len(applied)} applied, {len(pending)} pending"]
    lines += [f"  + {m.relpath}" for m in pending]
    lines += [f"  ! {p.path}:{p.line}: {p.message}" for p in problems if p.warning]
    fdir = ctx.source.path(paths.functions)
    active = await ctx.environment.functions.active()
    digest = digest_of(fdir) if fdir.is_dir() else None
    functions_changed = digest is not None and (active is None or active.digest != digest)
    if functions_changed:
            lines.append(f"functions: new release from {ctx.source.commit[:12]} "
                     f"({_function_names(fdir)}; "
                     f"active: {'release ' + str(active.id) if active else 'none'})")
    else:
        lines.append("functions: unchanged")
    done = {a.version for a in applied}
    last = max((m for m in found if m.version in done), default=None,
               key=lambda m: migration_files.version_key(m.version))
    ctx.state.plan = plan_text(
        ctx.environment.name, pending, len(applied),
        last.relpath.rsplit("/", 1)[-1] if last else None, functions_changed,
        _slugs(fdir) if fdir.is_dir() else ())
    return lines, bool(pending) or functions_changed


async def run(ctx: DeployContext) -> None:
    await ctx.progress("checking tools and migrations")
    try:
        tools, (lines, changes) = await asyncio.gather(_tool_versions(ctx), _plan(ctx))
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    await ctx.output(tools)
    await ctx.output("\n".join(lines))
    await squawk.lint_pending(ctx, ctx.state.pending or [])
    assert ctx.state.plan is not None  # _plan wrote it
    note, plan = ctx.state.plan
    if not changes and not ctx.dry_run:
        # Same content as what runs: a quick success, without running the tests again.
        await ctx.progress(note, section=plan)
        raise UpToDate(f"{ctx.environment.name} already runs what {ctx.source.commit[:12]} "
                       f"holds — {note}")
    if not ctx.dry_run:
        await _fingerprint(ctx)
    await ctx.progress("checking and testing the functions with Deno (sandboxed)")
    deno = await _unit_tests(ctx)
    await ctx.output(deno.output)
    # the note says what came of it; the summary's section names what would change
    await ctx.outcome(f"{note}; {deno.summary}", section=plan)


async def _fingerprint(ctx: DeployContext) -> None:
    """The environment before anything changes, for `undo` to compare with."""
    pending = ctx.state.pending or []
    smoke = ctx.source.path(ctx.config.paths.smoke)
    await fingerprint_check.remember(ctx, [
        *(m.sql for m in pending), *(m.rollback_sql or "" for m in pending),
        smoke.read_text(errors="replace") if smoke.is_file() else ""])


PREFLIGHT = Step(name="preflight", title="Preflight checks", run=run, read_only=True,
                 undo=fingerprint_check.verify, undo_verifies=True,
                 runbook="Required tools; Run unit tests; Verify migrations")
