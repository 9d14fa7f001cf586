"""Reporter: one check run per deployment, `deploybot/<env>`, updated in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.github.client import InstallationClient
from workers.reporters import markdown
from workers.reporters.debounced import Debounced
from workers.runbook.events import Outcome

CONCLUSIONS = {
    Outcome.SUCCEEDED: "success",
    Outcome.UP_TO_DATE: "success",
    Outcome.PLANNED: "success",
    Outcome.FAILED: "failure",
    Outcome.ROLLED_BACK: "failure",
    Outcome.ROLLBACK_FAILED: "failure",
}

RETRY = {"label": "Retry", "identifier": "retry",
         "description": "Run this deployment again"}
ROLLBACK = {"label": "Roll back", "identifier": "rollback",
            "description": "Undo this deployment"}
PROMOTE = {"label": "Deploy to production", "identifier": "deploy-production",
           "description": "Same commit, production gates apply"}


def check_run_name(environment: str) -> str:
    return f"deploybot/{environment}"


def actions_for(outcome: Outcome, *, production_env: bool, has_production: bool,
                dry_run: bool) -> list[dict[str, str]]:
    """The buttons a person may want next (at most three, GitHub's limit)."""
    if dry_run:
        return []
    if outcome in (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.ROLLBACK_FAILED):
        return [RETRY]
    actions = [ROLLBACK] if outcome is Outcome.SUCCEEDED else []
    if not production_env and has_production:
        actions.append(PROMOTE)
    return actions


class CheckRunReporter(Debounced):
    def __init__(self, client: InstallationClient,
                 repo: str, check_run_id: int, *, log_url: str | None,
                 production_env: bool, has_production: bool, interval: float | None = None,
                 resumed: bool = False) -> None:
        super().__init__(interval)
        self.client = client
        self.repo = repo
        self.check_run_id = check_run_id
        self.log_url = log_url
        self.production_env = production_env
        self.has_production = has_production
        self._started = resumed  # a report sent later keeps the check run's start time

    def _output(self) -> dict[str, Any]:
        p = self.progress
        out: dict[str, Any] = {
            "title": markdown.headline(p).replace("**", "").replace("`", "")[:250],
            "summary": markdown.summary(p, self.log_url),
        }
        text = markdown.logs(p, log_url=self.log_url)
        if text:
            out["text"] = text
        return out

    async def publish(self, final: bool) -> None:
        p = self.progress
        now = datetime.now(UTC)
        fields: dict[str, Any] = {"output": self._output(), "details_url": self.log_url}
        if not self._started:
            fields["started_at"] = now
            self._started = True
        if final and p.outcome is not None:
            fields["conclusion"] = CONCLUSIONS[p.outcome]
            fields["status"] = "completed"
            fields["completed_at"] = now
            fields["output"]["annotations"] = [
                {"path": a.path, "start_line": max(1, a.line), "end_line": max(1, a.line),
                 "annotation_level": a.level, "message": a.message,
                 "title": a.title or "deploybot"}  # cut to GitHub's limits once redacted
                for a in p.annotations]
            fields["actions"] = actions_for(p.outcome, production_env=self.production_env,
                                            has_production=self.has_production,
                                            dry_run=p.dry_run)
        else:
            fields["status"] = "in_progress"
        await self.client.update_check_run(self.repo, self.check_run_id, **fields)
