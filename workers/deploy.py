"""Run one deployment end to end: ledger row, environment, engine, reporters, clean-up.

The CLI and the arq worker both come through here, so a deployment is recorded and
reported the same way whoever asked for it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from service.config.layout import for_tree
from service.config.model import Config
from service.ledger.deployments import Ledger
from service.settings import Settings
from workers.cli_runs import this_process
from workers.environments import resolve
from workers.gates.render import refusal
from workers.gates.result import GateResult
from workers.notify import Announce
from workers.plans import deploy_steps
from workers.reporters.fanout import Fanout
from workers.reporters.ledger import LedgerReporter
from workers.runbook.context import DeployContext, SourceTree
from workers.runbook.engine import Engine, StopCheck
from workers.runbook.events import Outcome, Reporter
from workers.runbook.run_state import RunState
from workers.runbook.step import Step
from workers.steps.report import summary


@dataclass(frozen=True)
class DeployRequest:
    repo: str
    environment: str
    source: SourceTree
    config: Config
    dry_run: bool = False
    trigger: str = "cli"
    requested_by: str | None = None
    pr_number: int | None = None
    forced_reason: str | None = None


@dataclass(frozen=True)
class DeployResult:
    deployment_id: int
    outcome: Outcome
    interrupted: bool = False
    refused: bool = False  # the checklist said no before anything ran (outcome FAILED)


async def create_record(ledger: Ledger, req: DeployRequest,
                        steps: Sequence[Step] | None = None) -> int:
    steps = steps or deploy_steps(req.config.environment(req.environment))
    return await ledger.create_deployment(
        repo=req.repo, environment=req.environment,
        kind="dry_run" if req.dry_run else "deploy", commit_sha=req.source.commit,
        ref=req.source.ref, trigger=req.trigger, requested_by=req.requested_by,
        pr_number=req.pr_number, forced_reason=req.forced_reason,
        steps=[(s.name, s.title) for s in steps],
        details={"process": this_process()} if req.trigger == "cli" else None,
    )


async def run_deployment(
    settings: Settings, ledger: Ledger, req: DeployRequest, reporters: Sequence[Reporter] = (),
    *, deployment_id: int | None = None, steps: Sequence[Step] | None = None,
    stop_check: StopCheck | None = None, initial_state: RunState | None = None,
    rollback_of: int | None = None, announce: Announce | None = None,
    undo_on_interrupt: bool = False,
) -> DeployResult:
    """Run the steps for `req`. With `undo_on_interrupt` (the CLI), a run stopped from
    outside undoes what it began and ends `interrupted`; a worker's run instead stays with
    its lease, and the reconciler recovers it from the journal."""
    steps = list(steps or deploy_steps(req.config.environment(req.environment)))
    if deployment_id is None:
        deployment_id = await create_record(ledger, req, steps)
    try:
        environment = resolve(req.config, req.environment, settings)
    except Exception as exc:
        await ledger.finish(deployment_id, status="failed", reason=str(exc))
        raise
    reporter = Fanout([LedgerReporter(ledger, deployment_id), *reporters])
    # Paths the configuration leaves open follow the pinned commit's layout.
    ctx = DeployContext(deployment_id=deployment_id, environment=environment,
                        source=req.source, config=for_tree(req.config, req.source.root),
                        reporter=reporter,
                        dry_run=req.dry_run, state=initial_state or RunState(),
                        announce=announce)
    engine = Engine(steps, stop_check)
    interrupted = False
    try:
        try:
            outcome = await engine.run(ctx)
        except (asyncio.CancelledError, KeyboardInterrupt):
            if not undo_on_interrupt:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # a second Ctrl-C still stops the undo at once
            interrupted = True
            during = f"`{ctx.current_step}`" if ctx.current_step else "between steps"
            outcome = await engine.interrupted(ctx, f"interrupted during {during}")
    finally:
        if environment.close is not None:
            await environment.close()
    if interrupted:
        undone = {Outcome.ROLLED_BACK: "what it had changed was undone",
                  Outcome.ROLLBACK_FAILED: "undoing what it had changed FAILED: a person "
                                           "is needed",
                  }.get(outcome, "it had changed nothing")
        dep = await ledger.get(deployment_id)
        await ledger.finish(deployment_id, status="interrupted",
                            failed_step=dep["failed_step"] if dep else None,
                            reason=f"{dep['reason'] if dep else 'interrupted'}; {undone}",
                            stop_the_line="interrupted")
    await record_result(ledger, deployment_id, req.repo, req.environment, ctx.state, outcome,
                        rollback_of=rollback_of)
    return DeployResult(deployment_id, outcome, interrupted,
                        refused=engine.refused and not interrupted)


async def record_result(ledger: Ledger, deployment_id: int, repo: str, environment: str,
                        state: RunState, outcome: Outcome, *,
                        rollback_of: int | None) -> None:
    """What a finished run leaves in the ledger besides its steps: what it changed (a later
    rollback reads it), the rollback it completed, and its backup."""
    details = summary(state)
    if state.gates:  # the checklist as judged, for the dashboard to render
        source = state.gate_facts.source if state.gate_facts is not None else "github"
        verdict = refusal(state.gates, source)
        details["checklist"] = {"source": source, "headline": verdict.headline,
                                "force_note": verdict.force_note,
                                "items": [r.as_dict() for r in state.gates]}
    await ledger.merge_details(deployment_id, details)
    if rollback_of is not None and outcome is Outcome.SUCCEEDED:
        await ledger.merge_details(rollback_of, {"rolled_back_by": deployment_id})
    backup = state.backup
    if backup is not None:
        await ledger.record_backup(
            deployment_id=deployment_id, repo=repo, environment=environment,
            location=backup.location, size_bytes=backup.size_bytes, entries=backup.entries,
            server_version_num=backup.server_version_num, created_at=backup.created_at)


async def record_refusal(ledger: Ledger, *, repo: str, environment: str, commit: str,
                         ref: str, trigger: str, requested_by: str | None,
                         pr_number: int | None, forced_reason: str | None,
                         results: list[GateResult], source: str) -> int:
    """A request the pre-production checklist refused before it was queued (`/deploy
    production` on a pull request): kept for the audit trail as a `refused` record, like
    a refusal from the terminal, never counted as a deployment."""
    verdict = refusal(results, source)
    dep = await ledger.create_deployment(
        repo=repo, environment=environment, kind="deploy", commit_sha=commit, ref=ref,
        trigger=trigger, requested_by=requested_by, pr_number=pr_number,
        forced_reason=forced_reason, steps=[("gates", "Pre-production checklist")],
        details={"checklist": {"source": source, "headline": verdict.headline,
                               "force_note": verdict.force_note,
                               "items": [r.as_dict() for r in results]}})
    await ledger.update_step(dep, "gates", status="failed", message=verdict.headline)
    await ledger.finish(dep, status="refused", failed_step="gates", reason=verdict.headline,
                        stop_the_line="pre-production checklist not met")
    return dep

