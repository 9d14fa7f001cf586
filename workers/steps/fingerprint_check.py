"""The check that makes "as it was before" true: a step that runs first takes the
environment's fingerprint (`remember`), and its undo (`verify`), which the engine runs after
every other step's undo, compares the environment with it (issue 13). The deployment's
preflight and a rollback's rollback-check use it."""

from __future__ import annotations

from collections.abc import Iterable

from workers.drivers.interfaces import DatabaseUnavailable
from workers.runbook import fingerprint
from workers.runbook.context import DeployContext
from workers.runbook.step import StepFailed

FINGERPRINT = "fingerprint"  # journal key (ctx.state.fingerprint)
NOT_AS_BEFORE = "rollback not exact"


async def remember(ctx: DeployContext, sql_texts: Iterable[str]) -> None:
    """Take the fingerprint before anything changes; row counts are kept for the tables
    `sql_texts` (what the run will execute) name."""
    await ctx.progress("taking the environment's fingerprint")
    env = ctx.environment
    try:
        taken = await fingerprint.take(env.database, env.functions, sql_texts=sql_texts)
    except (fingerprint.FingerprintError, DatabaseUnavailable) as exc:
        raise StepFailed(f"cannot take the environment's fingerprint, without which no undo "
                         f"could be checked: {exc}",
                         stop_the_line="database connection issues") from None
    ctx.state.fingerprint = taken
    await ctx.journal(FINGERPRINT, taken.to_json())
    await ctx.output(f"fingerprint: {taken.summary()}\n")


async def verify(ctx: DeployContext) -> None:
    """After every other step's undo: the environment must match the fingerprint; say so
    only when it does, else stop the line saying what differs (the engine then reports the
    rollback as failed and escalates)."""
    before = ctx.state.fingerprint
    if before is None:
        # Taken before any step that changes something: without it, nothing ran after.
        await ctx.output("no fingerprint was taken: nothing ran after this step\n")
        return
    env = ctx.environment
    try:
        after = await fingerprint.take(env.database, env.functions, tables=before.row_counts)
    except (fingerprint.FingerprintError, DatabaseUnavailable) as exc:
        raise StepFailed(f"cannot check that the environment is as it was before: {exc}; "
                         f"a person is needed to check it", stop_the_line=NOT_AS_BEFORE
                         ) from None
    differs = fingerprint.differences(before, after)
    if differs:
        await ctx.output("NOT as before; compared with the fingerprint taken before the "
                         "run:\n" + "\n".join(f"  - {d}" for d in differs) + "\n")
        detail = "; ".join(differs)
        raise StepFailed(
            f"the environment is NOT as it was before the deployment — "
            f"{detail if len(detail) <= 600 else detail[:600] + '…'} — a person is needed",
            stop_the_line=NOT_AS_BEFORE)
    await ctx.output(f"the environment is as it was before the deployment: the fingerprint "
                     f"matches ({before.summary()})\n")
    await ctx.outcome("as it was before: the fingerprint matches")
