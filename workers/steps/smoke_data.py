"""smoke-data: remove what the undone deployment's smoke tests left (its quote of Test 1),
with the cleanup statements its journal recorded. Runs before the migrations are reverted,
while the tables still exist; data that is already gone is not an error."""

from __future__ import annotations

from workers.runbook.context import DeployContext
from workers.runbook.step import Step, StepSkipped


async def run(ctx: DeployContext) -> None:
    statements = ctx.state.smoke_cleanup
    if not statements:
        raise StepSkipped("the deployment left no smoke data")
    removed = 0
    for statement in statements:
        try:
            await ctx.environment.database.execute(statement)
            removed += 1
        except Exception as exc:  # e.g. the table is gone already: nothing left to remove
            await ctx.output(f"skipped one cleanup statement: {type(exc).__name__}")
    await ctx.output(f"removed the smoke tests' data ({removed} statement(s))")


SMOKE_DATA = Step(name="smoke-data", title="Remove smoke-test data", run=run,
                  runbook="Rollback plan")
