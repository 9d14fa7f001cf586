"""Remember whether a reporter delivered the deployment's final state.

The GitHub client retries within its policy (about 15 s); an outage longer than that would
leave a check run `in_progress` forever or an escalation unsent. The parts of the final
report that did not arrive are therefore written down and sent again from the ledger
(workers/jobs/deliver_report.py)."""

from __future__ import annotations

from workers.runbook.events import Event, EventKind, Reporter


class Tracked:
    def __init__(self, inner: Reporter, part: str) -> None:
        self.inner = inner
        self.part = part  # its name in ledger.requests.report_parts
        self.name = type(inner).__name__  # what logs call it
        self.delivered = False

    async def emit(self, event: Event) -> None:
        await self.inner.emit(event)  # a failure goes on to the Fanout, which logs it
        if event.kind is EventKind.DEPLOYMENT_FINISHED:
            self.delivered = True


def undelivered(reporters: list[Tracked]) -> list[str]:
    """The parts of the final report that did not arrive."""
    return [r.part for r in reporters if not r.delivered]
