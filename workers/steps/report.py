"""report: say what this deployment changed (runbook: post-deployment tasks).

The ledger row, GitHub statuses and notifications are written by reporters from the events;
this step states the outcome in the log so every reporter shows the same summary."""

from __future__ import annotations

from service.ledger.rows import DeploymentDetails
from workers.runbook.context import DeployContext
from workers.runbook.run_state import RunState
from workers.runbook.step import Step


def summary(state: RunState) -> DeploymentDetails:
    """What the deployment did, as plain data for the ledger and the reporters."""
    backup, new, prev = state.backup, state.new_release, state.previous_release
    pending, applied = state.pending or [], state.applied
    return {
        "backup": {"location": backup.location, "size_bytes": backup.size_bytes,
                   "entries": backup.entries} if backup else None,
        "pending": [m.version for m in pending],
        "applied": [{"version": m.version, "name": m.name} for m in applied],
        "release": {"id": new.id, "commit": new.commit, "slugs": list(new.slugs)} if new
        else None,
        "previous_release": prev.id if prev else None,
    }


async def run(ctx: DeployContext) -> None:
    s = summary(ctx.state)
    if ctx.dry_run:
        lines = [f"plan for {ctx.environment.name} at {ctx.source.commit[:12]}:"]
        lines += [f"  would apply {v}" for v in s["pending"]] or ["  no migrations to apply"]
        await ctx.output("\n".join(lines))
        await ctx.outcome(f"would apply {len(s['pending'])} migration"
                          f"{'' if len(s['pending']) == 1 else 's'}")
        return
    target = ctx.state.rollback_target
    if target is not None:
        reverted = ctx.state.reverted
        lines = [f"undid deployment #{target.id} of {ctx.source.commit[:12]} on "
                 f"{ctx.environment.name}: {len(reverted)} migration(s) reverted"]
        if ctx.state.release_before_rollback is not None:
            prev = target.previous_release
            lines.append(f"functions: {'release ' + str(prev) if prev else 'none'} active again")
        if s["backup"]:
            lines.append(f"backup taken first: {s['backup']['location']}")
        await ctx.output("\n".join(lines))
        await ctx.outcome(f"deployment #{target.id} undone")
        return
    lines = [f"{ctx.environment.name} now runs {ctx.source.commit[:12]}"]
    if s["applied"]:
        lines.append("applied: " + ", ".join(f"{a['version']}_{a['name']}" for a in s["applied"]))
    if s["release"]:
        lines.append(f"functions: release {s['release']['id']} active "
                     f"({', '.join(s['release']['slugs'])})")
    if s["backup"]:
        lines.append(f"backup: {s['backup']['location']}")
    await ctx.output("\n".join(lines))
    await ctx.outcome(lines[0])


REPORT = Step(name="report", title="Report", run=run, read_only=True,
              runbook="Post-deployment tasks")
