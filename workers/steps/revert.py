"""revert: run the rollback scripts of an earlier deployment's migrations, newest first, or
restore the backup that deployment took before them when one has no script (rollback-check
decided which).

Undo (when a later step of the rollback fails, or a script fails here) restores the backup
taken at the start of this rollback, so a half-done rollback never stays."""

from __future__ import annotations

import time

from workers.drivers.interfaces import (
    Backup,
    BackupError,
    DatabaseUnavailable,
    MigrationError,
    MigrationFile,
)
from workers.runbook.context import DeployContext
from workers.runbook.events import Annotation
from workers.runbook.step import Step, StepFailed, StepSkipped


async def run(ctx: DeployContext) -> None:
    todo = ctx.state.to_revert
    if not todo:
        raise StepSkipped("no migrations to revert")
    db = ctx.environment.database
    reverted = ctx.state.reverted
    target_backup = ctx.state.restore_target_backup
    if target_backup is not None:
        await _restore_target_backup(ctx, target_backup, todo)
        return
    for m in todo:
        await ctx.progress(f"reverting {m.relpath}")
        started = time.monotonic()
        try:
            await db.revert_migration(m, lock_timeout_ms=ctx.environment.config.lock_timeout_ms)
        except MigrationError as exc:
            raise StepFailed(f"rollback script of {m.relpath} failed: {exc}",
                             output=exc.statement,
                             annotations=[Annotation(exc.migration.relpath, exc.line,
                                                     exc.error, "rollback failed")],
                             stop_the_line="migration error") from exc
        except DatabaseUnavailable as exc:
            raise StepFailed(str(exc), stop_the_line="database connection issues") from exc
        reverted.append(m)
        await ctx.output(f"reverted {m.relpath} in {time.monotonic() - started:.2f} s")
    await ctx.outcome(f"reverted {len(reverted)} migration{'' if len(reverted) == 1 else 's'}")


async def _restore_target_backup(ctx: DeployContext, backup: Backup,
                                 todo: list[MigrationFile]) -> None:
    """Undo the deployment's migrations by restoring the backup it took before them (one
    transaction: a failure changes nothing)."""
    await ctx.progress(f"restoring {backup.location}")
    started = time.monotonic()
    try:
        await ctx.environment.backups.restore(backup, ctx.environment.database)
    except BackupError as exc:
        raise StepFailed(f"restoring the deployment's backup failed: {exc}",
                         stop_the_line="database connection issues" if exc.unreachable
                         else "migration error") from exc
    ctx.state.reverted.extend(todo)
    await ctx.output(f"restored {backup.location} in {time.monotonic() - started:.2f} s: "
                     f"undid {', '.join(m.relpath for m in todo)}")


async def undo(ctx: DeployContext) -> None:
    if not ctx.state.reverted:
        return
    backup = ctx.state.backup
    if backup is None:
        raise StepFailed("the rollback stopped half-way and there is no backup to restore: "
                         "a person is needed")
    await ctx.output(f"restoring {backup.location} to undo the partial rollback")
    await ctx.environment.backups.restore(backup, ctx.environment.database)
    await ctx.outcome("backup restored: the partial rollback is undone")


REVERT = Step(name="revert", title="Revert migrations", run=run, undo=undo,
              runbook="Rollback plan")
