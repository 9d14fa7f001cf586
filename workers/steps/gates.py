"""gates: the pre-production checklist, item by item, before anything touches production.

The facts come from the caller (GitHub and the ledger in the worker, the ledger alone on the
CLI) in ctx.state.gate_facts; the rollback-plan item is judged here against the
environment's migration history. When every item holds, the team is told — before anything
changes — and the deployment goes on."""

from __future__ import annotations

from service.commands.echo import code
from workers.drivers.interfaces import DatabaseUnavailable
from workers.gates.checklist import evaluate
from workers.gates.render import log_text, refusal
from workers.gates.result import GateResult, checklist_table, unmet
from workers.notify import Announcement
from workers.repository.migration_files import discover, pending
from workers.runbook.context import DeployContext
from workers.runbook.step import Refused, Step, StepFailed, StepSkipped

STOP = "pre-production checklist not met"


async def rollback_plan(ctx: DeployContext) -> GateResult:
    title = "Rollback plan: every pending migration has a rollback script (or a no-op)"
    paths = ctx.config.paths
    found = discover(ctx.source.root, paths.migrations, paths.rollbacks)
    try:
        applied = await ctx.environment.database.applied_migrations()
    except DatabaseUnavailable as exc:
        return GateResult("rollbacks", title, False, str(exc), "Check the database URL.")
    todo = pending(found, applied)
    missing = [m.relpath for m in todo if m.rollback_sql is None and not m.rollback_noop]
    if missing and not ctx.environment.config.requires_rollback_scripts:
        backup = ctx.environment.config.backup
        return GateResult(
            "rollbacks", title, backup,
            f"no rollback script for {', '.join(missing)}: the verified backup is the undo "
            f"(rollback_scripts: backup)" if backup else
            f"no rollback script for {', '.join(missing)}, and backups are off",
            "Turn `backup` on, or add the rollback scripts.")
    if missing:
        return GateResult("rollbacks", title, False, "no rollback for " + ", ".join(missing),
                          f"Add {paths.rollbacks}/<same file name>, or a file holding only "
                          "`-- deploybot:rollback no-op`.")
    return GateResult("rollbacks", title, True,
                      f"{len(todo)} pending migration(s), each with its rollback")


async def run(ctx: DeployContext) -> None:
    env = ctx.environment.config
    facts = ctx.state.gate_facts
    if not env.production:
        raise StepSkipped("no pre-production checklist for this environment")
    if facts is None:
        raise StepFailed("the pre-production checklist could not be evaluated (no facts)",
                         stop_the_line=STOP)
    results = [*evaluate(env, facts), await rollback_plan(ctx)]
    log = log_text(results, facts.source)  # the log is plain text wherever it is read
    table = checklist_table(results)
    missing = unmet(results)
    ctx.state.gates = results
    # the check run's summary shows the table (workers/reporters/markdown.py)
    await ctx.progress(f"{len(results) - len(missing)} of {len(results)} checklist items hold",
                       section=table)
    if missing:
        # Refused, not failed: nothing ran. The reporters render the verdict for where
        # they show it; the log keeps the whole checklist once.
        raise Refused(refusal(results, facts.source).headline, detail=results, output=log,
                      stop_the_line=STOP)
    await ctx.output(log)
    forced = [r for r in results if r.forced]
    if ctx.announce is not None and not ctx.dry_run:
        sha, name = ctx.source.commit[:7], ctx.environment.name
        titles = ", ".join(r.title for r in forced)
        note = (f"\n\n⚠️ Overridden by `--force`: {titles} — "
                f"reason: {code(facts.forced_reason or '', 300)}") if forced else ""
        said = (f"\noverridden with --force: {titles}; reason: {facts.forced_reason}"
                if forced else "")
        try:
            await ctx.announce(Announcement(
                markdown=f"📣 Deploying `{sha}` to **{name}** now.\n\n{table}{note}",
                text=f"announced: deploying {sha} to {name} now{said}"))
        except Exception as exc:  # the runbook wants the team told before anything changes
            raise StepFailed(f"could not notify the team ({type(exc).__name__}); nothing "
                             "was changed", stop_the_line=STOP) from None
    await ctx.outcome(f"{len(results)} checklist items hold"
                      + (f" ({len(forced)} forced)" if forced else ""), section=table)


GATES = Step(name="gates", title="Pre-production checklist", run=run, read_only=True,
             runbook="Pre-production checklist")
