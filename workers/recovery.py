"""Recover a deployment whose worker died: put the environment back as it was before it —
or, when all the dead run had left was `report` (every check had passed), finish it.

Steps write down what they change in the deployment's journal (the ledger) before it
matters; the migration history and the release pointer live in the environment itself. From
both, another worker rebuilds the state the dead one had and runs the undo of every step it
had started — the same undo code a failure runs — so a crash never leaves an environment
half-deployed."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from service.config.layout import for_tree
from service.config.model import Config
from service.ledger.deployments import Ledger
from service.ledger.rows import DeploymentWithSteps, RequestRow
from workers.deploy import DeployRequest, record_result
from workers.drivers.interfaces import Backup
from workers.environments import resolve
from workers.github_source import fetch_source, load_config
from workers.jobs.context import WorkerContext
from workers.plans import deploy_steps
from workers.reporters.fanout import Fanout
from workers.reporters.ledger import LedgerReporter
from workers.repository.migration_files import discover
from workers.runbook.context import DeployContext
from workers.runbook.engine import Engine
from workers.runbook.events import Outcome
from workers.runbook.fingerprint import Fingerprint
from workers.runbook.run_state import RunState
from workers.runbook.step import Step
from workers.steps.fingerprint_check import FINGERPRINT

log = logging.getLogger(__name__)
REASON = "the worker running this deployment stopped"


async def rebuild_state(ctx: DeployContext, journal: dict[str, Any]) -> RunState:
    """ctx.state as the dead worker had it, from the journal and the environment."""
    state = RunState()
    env = ctx.environment
    pending = set(journal.get("pending") or [])
    if pending:
        paths = ctx.config.paths
        found = discover(ctx.source.root, paths.migrations, paths.rollbacks)
        # Everything pending at the start and applied now is this deployment's doing, even
        # a file whose commit the dead worker never got to write down.
        now = {a.version for a in await env.database.applied_migrations()}
        state.applied = [m for m in found if m.version in pending and m.version in now]
    b = journal.get("backup")
    if b:
        state.backup = Backup.from_json(b)
    if "new_release" in journal:
        state.new_release = await env.functions.get(int(journal["new_release"]))
        prev = journal.get("previous_release")
        state.previous_release = await env.functions.get(int(prev)) if prev else None
    if journal.get("smoke_cleanup"):
        state.smoke_cleanup = list(journal["smoke_cleanup"])
    if journal.get(FINGERPRINT):
        state.fingerprint = Fingerprint.from_json(journal[FINGERPRINT])
    return state


def left_to_complete(dep: DeploymentWithSteps, plan: list[Step]) -> set[str] | None:
    """The steps a dead run still had to do, when none of them changes the environment and
    every other step had succeeded (only `report` left): finishing is then safe, and undoing
    a verified deployment would only cost its users a redeploy. None otherwise."""
    read_only = {s.name for s in plan if s.read_only}
    steps = dep["steps"]
    left = {s["name"] for s in steps if s["status"] in ("pending", "running")}
    done = all(s["status"] in ("succeeded", "skipped") for s in steps if s["name"] not in left)
    if not left or not done or not left <= read_only or any(s["undo_status"] for s in steps):
        return None
    # preflight and gates are read-only too, but a run that died in them still had migrate
    # and the rest to do: it is never finished here.
    return left


async def recover_deployment(ctx: WorkerContext, ledger: Ledger, req: RequestRow,
                             dep: DeploymentWithSteps) -> tuple[Outcome, Config]:
    """Finish deployment `dep` (of request `req`) for a worker that died running it, where
    only steps that change nothing were left; else undo it. The outcome, and the
    configuration it ran under."""
    started = {s["name"] for s in dep["steps"]
               if s["status"] in ("running", "succeeded", "failed")}
    assert req["installation_id"] is not None  # the reconciler recovers only such runs
    client = ctx.github.installation(req["installation_id"])
    repo = req["repo"]
    info = await client.get_repo(repo)
    config = await load_config(client, repo, str(info.get("default_branch") or "main"))
    source = await fetch_source(client, repo, dep["commit_sha"],
                                ctx.settings.data_dir / "checkouts")
    env_cfg = config.environment(dep["environment"])
    environment = resolve(config, dep["environment"], ctx.settings)
    dreq = DeployRequest(repo=repo, environment=dep["environment"], source=source,
                         config=config)
    reporter = Fanout([LedgerReporter(ledger, int(dep["id"]))])
    dctx = DeployContext(deployment_id=int(dep["id"]), environment=environment,
                         source=dreq.source, config=for_tree(config, source.root),
                         reporter=reporter)
    try:
        dctx.state = await rebuild_state(dctx, dep["details"].get("journal") or {})
        plan = (ctx.plan(req["kind"]) if ctx.plan is not None else None) or deploy_steps(env_cfg)
        engine = Engine(plan)
        # Deployments only: a rollback's own steps are not rebuilt from its journal here.
        left = left_to_complete(dep, plan) if req["kind"] == "deploy" else None
        if left is not None:
            where = ", ".join(f"`{name}`" for name in sorted(left))
            done = await engine.complete(dctx, left, f"{REASON} with only {where} left, "
                                         "every check passed: deploybot finished it")
            if done is not None:
                await record_result(ledger, int(dep["id"]), repo, dep["environment"],
                                    dctx.state, done, rollback_of=None)
                return done, config
        return await engine.recover(dctx, started, REASON), config
    finally:
        if environment.close is not None:
            with contextlib.suppress(Exception):
                await environment.close()
