"""Reporter: the GitHub deployment's statuses (in_progress, then success/failure/error), each
with its log (the dashboard) and its environment's link, as every status the bot posts."""

from __future__ import annotations

from service.github.client import DeploymentState, InstallationClient
from workers.runbook.events import Event, EventKind, Outcome

STATES: dict[Outcome, DeploymentState] = {
    Outcome.SUCCEEDED: "success",
    Outcome.UP_TO_DATE: "success",
    Outcome.PLANNED: "success",
    Outcome.FAILED: "failure",
    Outcome.ROLLED_BACK: "failure",
    Outcome.ROLLBACK_FAILED: "error",
}
DESCRIPTIONS = {
    Outcome.SUCCEEDED: "deployed",
    Outcome.UP_TO_DATE: "already up to date",
    Outcome.PLANNED: "dry run",
    Outcome.FAILED: "failed before changing anything",
    Outcome.ROLLED_BACK: "failed and rolled back",
    Outcome.ROLLBACK_FAILED: "failed; rollback failed: a person is needed",
}


class DeploymentStatusReporter:
    def __init__(self, client: InstallationClient,
                 repo: str, deployment_id: int, *, log_url: str | None,
                 environment_url: str | None) -> None:
        self.client = client
        self.repo = repo
        self.deployment_id = deployment_id
        self.log_url = log_url
        self.environment_url = environment_url

    async def emit(self, event: Event) -> None:
        if event.kind is EventKind.DEPLOYMENT_STARTED:
            await self.client.create_deployment_status(
                self.repo, self.deployment_id, state="in_progress", log_url=self.log_url,
                environment_url=self.environment_url, description="running the runbook")
        elif event.kind is EventKind.DEPLOYMENT_FINISHED:
            outcome = Outcome(event.data["outcome"])
            state = STATES[outcome]
            description = DESCRIPTIONS[outcome]
            if event.message and outcome is not Outcome.SUCCEEDED:
                description = f"{description}: {event.message}"
            # auto_inactive: GitHub marks earlier successful deployments of the environment
            # inactive once this one succeeds.
            await self.client.create_deployment_status(
                self.repo, self.deployment_id, state=state, log_url=self.log_url,
                environment_url=self.environment_url, description=description,
                auto_inactive=state == "success")
