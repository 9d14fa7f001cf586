"""Reporter: one check run per deployment, `deploybot/<env>`, updated in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.github.client import InstallationClient
from workers.gates.promotion import Promotion, Verdict
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


def actions_for(outcome: Outcome, *, dry_run: bool, promote: bool) -> list[dict[str, str]]:
    """The buttons a person may want next (at most three, GitHub's limit). Deploy to
    production only when its checklist holds (`promote`: workers/gates/promotion.py)."""
    if dry_run:
        return []
    if outcome in (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.ROLLBACK_FAILED):
        return [RETRY]
    actions = [ROLLBACK] if outcome is Outcome.SUCCEEDED else []
    if promote:
        actions.append(PROMOTE)
    return actions


async def promotion_verdict(promotion: Promotion | None, outcome: Outcome | None,
                            dry_run: bool) -> Verdict | None:
    """The production checklist's verdict, when this deployment could be promoted."""
    if promotion is None or dry_run or outcome not in (Outcome.SUCCEEDED, Outcome.UP_TO_DATE):
        return None
    return await promotion.verdict()


class CheckRunReporter(Debounced):
    def __init__(self, client: InstallationClient,
                 repo: str, check_run_id: int, *, log_url: str | None,
                 promotion: Promotion | None = None, interval: float | None = None,
                 resumed: bool = False) -> None:
        super().__init__(interval)
        self.client = client
        self.repo = repo
        self.check_run_id = check_run_id
        self.log_url = log_url
        self.promotion = promotion
        self._started = resumed  # a report sent later keeps the check run's start time

    def _output(self, verdict: Verdict | None = None) -> dict[str, Any]:
        p = self.progress
        out: dict[str, Any] = {
            "title": markdown.headline(p).replace("**", "").replace("`", "")[:250],
            "summary": markdown.summary(p, self.log_url,
                                        promotion=verdict.sentence() if verdict else ""),
        }
        text = markdown.logs(p, log_url=self.log_url)
        if text:
            out["text"] = text
        return out

    async def publish(self, final: bool) -> None:
        p = self.progress
        now = datetime.now(UTC)
        verdict = await promotion_verdict(self.promotion, p.outcome, p.dry_run) if final \
            else None
        fields: dict[str, Any] = {"output": self._output(verdict), "details_url": self.log_url}
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
            fields["actions"] = actions_for(p.outcome, dry_run=p.dry_run,
                                            promote=verdict is not None and verdict.ready)
        else:
            fields["status"] = "in_progress"
        await self.client.update_check_run(self.repo, self.check_run_id, **fields)
