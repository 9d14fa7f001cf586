"""backup: dump the environment's database before anything changes (runbook: Backup).

The backup is kept whatever happens next, so the step has no undo; the rollback step
restores it when a migration cannot be undone by its rollback script.
"""

from __future__ import annotations

import time

from workers.drivers.interfaces import BackupError, DatabaseUnavailable
from workers.runbook.context import DeployContext
from workers.runbook.step import Step, StepFailed, StepSkipped

UNREACHABLE = "database connection issues"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


async def run(ctx: DeployContext) -> None:
    env = ctx.environment
    if not env.config.backup:
        raise StepSkipped(f"backups are turned off for {env.name} "
                          f"(environments.{env.name}.backup: false)")
    label = f"{env.name}-{ctx.deployment_id}"
    await ctx.progress(f"dumping {env.database.redacted_url}")
    started = time.monotonic()
    try:
        backup = await env.backups.create(env.database, label)
    except DatabaseUnavailable as exc:
        raise StepFailed(f"cannot reach the database to back it up: {exc}",
                         stop_the_line=UNREACHABLE) from None
    except BackupError as exc:
        raise StepFailed(f"backup failed: {exc}",
                         stop_the_line=UNREACHABLE if exc.unreachable else "") from None
    ctx.state.backup = backup
    await ctx.journal("backup", backup.to_json())
    took = time.monotonic() - started
    await ctx.output(
        f"backup: {backup.location}\n"
        f"size: {human_size(backup.size_bytes)} ({backup.size_bytes} bytes)\n"
        f"entries: {backup.entries} (verified with pg_restore --list)\n"
        f"took: {took:.1f} s\n")
    await ctx.outcome(f"backup taken: {human_size(backup.size_bytes)}, "
                      f"{backup.entries} entries")


BACKUP = Step(name="backup", title="Back up the database", run=run,
              runbook="Backup Staging Database / Backup Production Database")
