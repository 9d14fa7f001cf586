"""Whether a commit that just deployed elsewhere may go on to production: the production
checklist, judged when the deployment's report is written. The "Deploy to production" button
is offered only when every item holds; otherwise the report says how many do not.

The button's click checks again (workers/handlers/check_run.py): facts change meanwhile.
One judgement serves every reporter of a deployment (the check run and the comment)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from service.config.model import Config, EnvironmentConfig
from service.github.client import InstallationClient
from workers.gates.precheck import precheck
from workers.gates.result import GateResult, unmet
from workers.jobs.context import WorkerContext

log = logging.getLogger(__name__)

READY = ("🚀 `{environment}`'s pre-production checklist holds for `{sha}`: "
         "**Deploy to production** on the check run (or `/deploy {environment}`) deploys it.")
NOT_READY = ("`{environment}`: {unmet} of {total} pre-production checklist items do not hold "
             "for `{sha}` ({items}), so there is no **Deploy to production** button yet; "
             "`/deploy {environment}` tells what to do.")
UNKNOWN = ("`{environment}`: the pre-production checklist could not be checked ({why}), so "
           "there is no **Deploy to production** button; `/deploy {environment}` checks it.")


@dataclass(frozen=True)
class Verdict:
    environment: str
    commit: str
    results: list[GateResult] = field(default_factory=list)
    error: str = ""  # the checklist could not be judged

    @property
    def ready(self) -> bool:
        return not self.error and bool(self.results) and not unmet(self.results)

    def sentence(self) -> str:
        sha = self.commit[:7]
        if self.error:
            return UNKNOWN.format(environment=self.environment, why=self.error)
        if self.ready:
            return READY.format(environment=self.environment, sha=sha)
        missing = unmet(self.results)
        return NOT_READY.format(environment=self.environment, unmet=len(missing),
                                total=len(self.results), sha=sha,
                                items="; ".join(r.title for r in missing))


Judge = Callable[[EnvironmentConfig], Awaitable[list[GateResult]]]


class Promotion:
    """The production checklist for one commit, judged once (when first asked)."""

    def __init__(self, environment: EnvironmentConfig, commit: str, judge: Judge) -> None:
        self.environment = environment
        self.commit = commit
        self._judge = judge
        self._verdict: Verdict | None = None
        self._lock = asyncio.Lock()

    async def verdict(self) -> Verdict:
        async with self._lock:
            if self._verdict is None:
                try:
                    results = await self._judge(self.environment)
                except Exception as exc:  # GitHub or Supabase away: no button, said so
                    log.warning("could not judge the production checklist", exc_info=True)
                    self._verdict = Verdict(self.environment.name, self.commit,
                                            error=type(exc).__name__)
                else:
                    self._verdict = Verdict(self.environment.name, self.commit, results)
            return self._verdict


def production_of(config: Config | None) -> EnvironmentConfig | None:
    if config is None:
        return None
    return next((e for e in config.environments.values() if e.production), None)


def promotion_for(ctx: WorkerContext, client: InstallationClient, config: Config | None, *,
                  environment: str, kind: str, repo: str, commit: str,
                  pr_number: int | None) -> Promotion | None:
    """The promotion a deployment of `kind` to `environment` may offer; None when there is
    nothing to promote to (no production, or it is production, or not a deployment)."""
    production = production_of(config)
    if production is None or production.name == environment or kind != "deploy":
        return None

    async def judge(env: EnvironmentConfig) -> list[GateResult]:
        results, _ = await precheck(ctx, client, env, repo=repo, commit=commit,
                                    pr_number=pr_number, forced_reason=None)
        return results

    return Promotion(production, commit, judge)
