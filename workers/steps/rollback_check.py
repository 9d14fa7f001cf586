"""rollback-check: what undoing an earlier deployment will do, checked before any change.

Its migrations that are still applied are reverted newest first, each with its rollback
script from the deployment's own commit; a missing script stops the rollback here, before
anything changed (the revert step would otherwise have to restore a backup)."""

from __future__ import annotations

from typing import Any

from workers.drivers.interfaces import DatabaseUnavailable, MigrationFile
from workers.runbook.context import DeployContext
from workers.runbook.migration_files import discover
from workers.runbook.step import Step, StepFailed
from workers.steps import fingerprint_check


async def run(ctx: DeployContext) -> None:
    target: dict[str, Any] = ctx.state["rollback_target"]
    paths = ctx.config.paths
    found = {m.version: m for m in discover(ctx.source.root, paths.migrations, paths.rollbacks)}
    try:
        applied = {a.version for a in await ctx.environment.database.applied_migrations()}
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    to_revert: list[MigrationFile] = []
    problems: list[str] = []
    for version in reversed(target["applied"]):
        if version not in applied:
            await ctx.output(f"{version}: no longer applied, nothing to revert")
            continue
        m = found.get(version)
        if m is None:
            problems.append(f"{version}: its file is missing at {target['commit'][:12]}")
        elif m.rollback_sql is None and not m.rollback_noop:
            problems.append(f"{m.relpath}: no rollback script "
                            f"({m.rollback_relpath or paths.rollbacks + '/' + m.path.name})")
        else:
            to_revert.append(m)
    if problems:
        raise StepFailed("cannot revert every migration of deployment "
                         f"#{target['id']}: {problems[0]}", output="\n".join(problems),
                         stop_the_line="rollback script missing")
    ctx.state["to_revert"] = to_revert
    active = await ctx.environment.functions.active()
    lines = [f"undo deployment #{target['id']} ({target['commit'][:12]})"]
    lines += [f"  revert {m.relpath}" for m in to_revert] or ["  no migrations to revert"]
    if target.get("release") is not None and active is not None and active.id == target["release"]:
        prev = target.get("previous_release")
        lines.append(f"  functions: back to {'release ' + str(prev) if prev else 'none'}")
    else:
        lines.append("  functions: unchanged (the deployment's release is not active)")
    await ctx.output("\n".join(lines))
    await ctx.outcome(f"{len(to_revert)} migration{'' if len(to_revert) == 1 else 's'} "
                      "to revert")
    if not ctx.dry_run:
        await fingerprint_check.remember(
            ctx, [text for m in to_revert for text in (m.sql, m.rollback_sql or "")])


# Its undo, run last if the rollback fails half-way, checks the environment is back as it
# was before the rollback began.
ROLLBACK_CHECK = Step(name="rollback-check", title="Check the rollback", run=run,
                      read_only=True, undo=fingerprint_check.verify, undo_verifies=True,
                      runbook="Rollback plan")
