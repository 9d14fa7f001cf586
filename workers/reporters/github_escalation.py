"""Reporter: the runbook's escalation path on a stop-the-line failure — mention the lead,
write up what happened on the pull request, and open a post-mortem issue."""

from __future__ import annotations

from service.github.client import InstallationClient
from workers import messages
from workers.reporters import markdown
from workers.reporters.markdown import REASON_MAX
from workers.reporters.progress import Progress
from workers.runbook.events import Event, EventKind, Outcome

POSTMORTEM = """\
<!-- deploybot:postmortem:{deployment_id} -->
## What happened
Deploying `{commit}` to **{env}** stopped at **{step}**: {reason}

Stop-the-line condition: {stop}

## What deploybot did
{undone}

**State now:** {state}

## Timeline
- deployment #{deployment_id} {log}
- requested by {who}{pr}

## Post-mortem (fill in after resolution)
- [ ] Root cause
- [ ] Impact on customers
- [ ] Why the checks before production did not catch it
- [ ] Follow-up actions (owner, due date)
"""

def postmortem_marker(deployment_id: int) -> str:
    return POSTMORTEM.splitlines()[0].format(deployment_id=deployment_id)


STATE_NOW = {
    Outcome.ROLLED_BACK: "rolled back — the environment is as it was before the deployment",
    Outcome.ROLLBACK_FAILED: "⚠️ the rollback FAILED — the environment may be half-deployed; "
                             "a person is needed now",
    Outcome.FAILED: "nothing was changed",
}


def should_escalate(p: Progress, *, production: bool, lead: str | None) -> bool:
    if p.outcome is Outcome.ROLLBACK_FAILED:
        return True
    return p.outcome is Outcome.ROLLED_BACK and bool(p.stop_the_line) and (
        production or lead is not None)


ISSUE_TITLE = "Post-mortem: {env} deployment #{deployment_id} stopped at {at}"
# The reply on the pull request: what stopped, what was undone, where things stand.
STOP_THE_LINE = ("🚨 {mention}**Stop the line:** deploying `{commit}` to **{env}** stopped at "
                 "**{at}** — {reason}\n\n{undone}\n\n**State now:** {state}\n\n{output}"
                 "Post-mortem: #{issue}")
OUTPUT = "<details><summary>output</summary>\n\n```text\n{output}\n```\n\n</details>\n\n"


class EscalationReporter:
    def __init__(self, client: InstallationClient,
                 repo: str, *, deployment_id: int, pr_number: int | None,
                 requested_by: str | None, lead: str | None, production: bool,
                 log_url: str | None) -> None:
        self.client, self.repo = client, repo
        self.deployment_id, self.pr_number = deployment_id, pr_number
        self.requested_by, self.lead, self.production = requested_by, lead, production
        self.log_url = log_url
        self.progress = Progress()
        self.issue_number: int | None = None
        # Sent again later (workers/jobs/deliver_report.py): the issue may exist already.
        self.look_first = False

    def _undone(self) -> str:
        lines = []
        for s in self.progress.steps.values():
            if s.undo == "undone":
                lines.append(f"- ↩️ undid **{s.title}**")
            elif s.undo == "undo_failed":
                lines.append(f"- ‼️ could not undo **{s.title}**: {s.undo_note}")
        return "\n".join(lines) or "- nothing had changed, nothing to undo"

    async def emit(self, event: Event) -> None:
        self.progress.apply(event)
        if event.kind is not EventKind.DEPLOYMENT_FINISHED:
            return
        p = self.progress
        if not should_escalate(p, production=self.production, lead=self.lead):
            return
        assert p.outcome is not None
        failed = p.steps.get(p.failed_step or "")
        # a worker that died between two steps stopped at none of them
        at = p.failed_step or "between steps"
        body = POSTMORTEM.format(
            deployment_id=self.deployment_id, commit=p.commit[:7], env=p.environment,
            step=failed.title if failed else at, reason=markdown.excerpt(p.reason, REASON_MAX),
            stop=p.stop_the_line or "unexpected error", undone=self._undone(),
            state=STATE_NOW.get(p.outcome, p.outcome.value),
            log=f"([full log]({self.log_url}))" if self.log_url else "",
            who=f"@{self.requested_by}" if self.requested_by else "a merge",
            pr=f" in #{self.pr_number}" if self.pr_number else "")
        labels = ["deploybot", "incident"]
        issue = await self.client.find_issue(self.repo, marker=postmortem_marker(
            self.deployment_id), labels=labels) if self.look_first else None
        if issue is None:
            issue = await self.client.create_issue(
                self.repo, title=ISSUE_TITLE.format(env=p.environment,
                                                    deployment_id=self.deployment_id, at=at),
                body=body, labels=labels, log_url=self.log_url)
        self.issue_number = int(issue["number"])
        if self.pr_number is not None:
            mention = f"{self.lead} " if self.lead else ""
            output = markdown.excerpt(failed.output, 6000, tail=True) if failed else ""
            await self.client.create_comment(self.repo, self.pr_number, messages.reply(
                STOP_THE_LINE.format(
                    mention=mention, commit=p.commit[:7], env=p.environment, at=at,
                    reason=markdown.excerpt(p.reason, REASON_MAX), undone=self._undone(),
                    state=STATE_NOW.get(p.outcome, ""),
                    output=OUTPUT.format(output=output) if output else "",
                    issue=self.issue_number)), log_url=self.log_url)
