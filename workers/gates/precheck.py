"""The checklist at request time: a production request whose gates do not hold is refused
at once, with the checklist, instead of being queued to fail later. The gates step checks
again when the deployment starts (facts may change while it waits)."""

from __future__ import annotations

from service.config.model import EnvironmentConfig
from service.github.client import InstallationClient
from service.ledger.deployments import Ledger
from workers.gates.checklist import evaluate
from workers.gates.gather import gather
from workers.gates.result import GateResult, unmet
from workers.jobs.context import WorkerContext


async def precheck(ctx: WorkerContext, client: InstallationClient,
                   env: EnvironmentConfig, *, repo: str,
                   commit: str, pr_number: int | None, forced_reason: str | None
                   ) -> tuple[list[GateResult], list[GateResult]]:
    """(all results, the unmet ones)."""
    async with ctx.db.connection() as conn:
        facts = await gather(Ledger(conn), env, repo=repo, commit=commit, client=client,
                             pr_number=pr_number, forced_reason=forced_reason,
                             settings=ctx.settings)
    results = evaluate(env, facts)
    return results, unmet(results)
