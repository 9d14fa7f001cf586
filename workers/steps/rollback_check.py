"""rollback-check: what undoing an earlier deployment will do, checked before any change.

Its migrations that are still applied are reverted newest first, each with its rollback
script from the deployment's own commit. Where one has no script, the backup the deployment
took before its migrations is their undo when the environment allows it (`rollback_scripts:
backup`, the default off production) and the file is still there: restoring it brings the
project's schemas back as they were before the deployment, so what was written there since
is lost (the rollback's own backup, taken first, keeps it). Otherwise the rollback stops
here, before anything changed, saying why."""

from __future__ import annotations

from pathlib import Path

from workers.drivers.interfaces import Backup, DatabaseUnavailable, MigrationFile
from workers.repository.migration_files import discover
from workers.runbook.context import DeployContext
from workers.runbook.run_state import RollbackTarget
from workers.runbook.step import Step, StepFailed
from workers.steps import fingerprint_check


async def run(ctx: DeployContext) -> None:
    target = ctx.state.rollback_target
    assert target is not None  # a rollback's plan sets it
    paths = ctx.config.paths
    found = {m.version: m for m in discover(ctx.source.root, paths.migrations, paths.rollbacks)}
    try:
        applied = {a.version for a in await ctx.environment.database.applied_migrations()}
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line="database connection issues") from None
    to_revert: list[MigrationFile] = []
    problems: list[str] = []
    unscripted: list[MigrationFile] = []
    for version in reversed(target.applied):
        if version not in applied:
            await ctx.output(f"{version}: no longer applied, nothing to revert")
            continue
        m = found.get(version)
        if m is None:
            problems.append(f"{version}: its file is missing at {target.commit[:12]}")
            continue
        if m.rollback_sql is None and not m.rollback_noop:
            unscripted.append(m)
        to_revert.append(m)
    restore = _restorable_backup(ctx, target) if unscripted and not problems else None
    if unscripted and restore is None:
        problems += [f"{m.relpath}: no rollback script "
                     f"({m.rollback_relpath or paths.rollbacks + '/' + m.path.name}); "
                     + _why_no_backup(ctx, target) for m in unscripted]
    if problems:
        raise StepFailed("cannot revert every migration of deployment "
                         f"#{target.id}: {problems[0]}", output="\n".join(problems),
                         stop_the_line="rollback script missing")
    ctx.state.to_revert = to_revert
    ctx.state.restore_target_backup = restore
    active = await ctx.environment.functions.active()
    lines = [f"undo deployment #{target.id} ({target.commit[:12]})"]
    if restore is not None:
        lines += [f"  restore the backup deployment #{target.id} took before its "
                  f"migrations ({restore.created_at.isoformat(timespec='seconds')}), as "
                  f"{', '.join(m.relpath for m in unscripted)} "
                  f"{'has' if len(unscripted) == 1 else 'have'} no rollback script: it "
                  "undoes " + ", ".join(m.relpath for m in to_revert),
                  "  what was written in the project's schemas since then is lost (the "
                  "backup this rollback takes first keeps it)"]
    else:
        lines += [f"  revert {m.relpath}" for m in to_revert] or ["  no migrations to revert"]
    if target.release is not None and active is not None and active.id == target.release:
        prev = target.previous_release
        lines.append(f"  functions: back to {'release ' + str(prev) if prev else 'none'}")
    else:
        lines.append("  functions: unchanged (the deployment's release is not active)")
    await ctx.output("\n".join(lines))
    await ctx.outcome(f"{len(to_revert)} migration{'' if len(to_revert) == 1 else 's'} "
                      "to revert")
    if not ctx.dry_run:
        await fingerprint_check.remember(
            ctx, [text for m in to_revert for text in (m.sql, m.rollback_sql or "")])


def _restorable_backup(ctx: DeployContext, target: RollbackTarget) -> Backup | None:
    """The deployment's own backup, where the environment lets it undo migrations without
    a script and the file is still there."""
    b = target.backup
    if ctx.environment.config.requires_rollback_scripts or b is None:
        return None
    if not Path(b.location).is_file():
        return None
    return b


def _why_no_backup(ctx: DeployContext, target: RollbackTarget) -> str:
    env = ctx.environment
    if env.config.requires_rollback_scripts:
        return (f"{env.name} requires rollback scripts (rollback_scripts: required), so the "
                "deployment's backup is not used as its undo; restore it by hand with "
                "pg_restore if that is what you want")
    b = target.backup
    if b is None:
        return "and the deployment took no backup to restore instead"
    return (f"and the backup the deployment took ({Path(b.location).name}) is not on this "
            "machine any more")


# Its undo, run last if the rollback fails half-way, checks the environment is back as it
# was before the rollback began.
ROLLBACK_CHECK = Step(name="rollback-check", title="Check the rollback", run=run,
                      read_only=True, undo=fingerprint_check.verify, undo_verifies=True,
                      runbook="Rollback plan")
