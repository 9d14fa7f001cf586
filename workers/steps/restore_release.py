"""restore-release: reactivate the function release that was active before the deployment
being undone (runbook: "Rollback to previous version")."""

from __future__ import annotations

from workers.drivers.interfaces import FunctionsUnavailable
from workers.runbook.context import DeployContext
from workers.runbook.step import Step, StepFailed, StepSkipped


async def run(ctx: DeployContext) -> None:
    target = ctx.state.rollback_target
    assert target is not None  # a rollback's plan sets it
    functions = ctx.environment.functions
    active = await functions.active()
    if target.release is None or active is None or active.id != target.release:
        raise StepSkipped("the deployment's function release is not active: nothing to undo")
    ctx.state.release_before_rollback = active.id
    prev = target.previous_release
    try:
        await functions.activate(prev)
    except FunctionsUnavailable as exc:
        raise StepFailed(f"could not put the previous functions back: {exc}") from None
    await ctx.output(f"reactivated {'release ' + str(prev) if prev else 'no release'} "
                     f"(was release {active.id})")
    await ctx.outcome(f"release {prev} active" if prev else "no release active")


async def undo(ctx: DeployContext) -> None:
    before = ctx.state.release_before_rollback
    if before is not None:
        await ctx.environment.functions.activate(before)
        await ctx.output(f"reactivated release {before} again")
        await ctx.outcome(f"release {before} active again")


RESTORE_RELEASE = Step(name="restore-release", title="Restore the previous functions",
                       run=run, undo=undo, runbook="If Edge Function fails")
