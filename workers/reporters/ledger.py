"""Record every step event in the ledger, so the history, the dashboard and a recovering
worker all read what happened from PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from service.ledger.deployments import Ledger
from service.ledger.rows import StepUpdate
from workers.runbook.events import Event, EventKind, Outcome

_STATUS = {
    Outcome.SUCCEEDED: "succeeded",
    Outcome.UP_TO_DATE: "up_to_date",
    Outcome.PLANNED: "planned",
    Outcome.ROLLED_BACK: "rolled_back",
    Outcome.FAILED: "failed",
    Outcome.ROLLBACK_FAILED: "rollback_failed",
}


def _at(event: Event) -> datetime:
    return datetime.fromtimestamp(event.at, UTC)


def _ms(event: Event) -> int | None:
    d = event.data.get("duration")
    return round(float(d) * 1000) if d is not None else None


class LedgerReporter:
    def __init__(self, ledger: Ledger, deployment_id: int) -> None:
        self.ledger = ledger
        self.id = deployment_id
        self._undoing: set[str] = set()  # their progress lines are the undo's, not the step's

    async def emit(self, event: Event) -> None:
        k, step = event.kind, event.step
        led = self.ledger
        if k is EventKind.DEPLOYMENT_STARTED:
            titles: dict[str, str] = dict(event.data.get("titles", {}))
            await led.set_steps(self.id, [(n, titles.get(n, n)) for n in event.data["steps"]])
            await led.mark_running(self.id)
        elif k is EventKind.DEPLOYMENT_FINISHED:
            outcome = Outcome(event.data["outcome"])
            # A refusal is recorded for the audit trail, never as a failed deployment.
            status = "refused" if event.data.get("refused") else _STATUS[outcome]
            await led.finish(self.id, status=status,
                             failed_step=event.data.get("failed_step"), reason=event.message,
                             stop_the_line=event.data.get("stop_the_line"))
        elif k is EventKind.JOURNAL:
            await led.journal(self.id, str(event.data["key"]), event.data["value"])
        elif step is None:
            return
        elif k is EventKind.STARTED:
            await led.update_step(self.id, step, status="running", started_at=_at(event))
        elif k is EventKind.PROGRESS:
            if step in self._undoing:
                await led.update_step(self.id, step, undo_message=event.message)
            else:
                await led.update_step(self.id, step, message=event.message)
        elif k is EventKind.OUTPUT:
            await led.append_output(self.id, step, event.message)
        elif k in (EventKind.FINISHED, EventKind.SKIPPED, EventKind.FAILED):
            fields: StepUpdate = {
                "status": {EventKind.FINISHED: "succeeded", EventKind.SKIPPED: "skipped",
                           EventKind.FAILED: "failed"}[k],
                "finished_at": _at(event), "duration_ms": _ms(event),
            }
            fields["message"] = event.message  # its outcome, not its last progress line
            await led.update_step(self.id, step, **fields)
            if k is EventKind.FAILED and event.data.get("output"):
                await led.append_output(self.id, step, str(event.data["output"]))
        elif k is EventKind.UNDO_STARTED:
            self._undoing.add(step)
            await led.update_step(self.id, step, undo_status="running", undo_message="")
        elif k in (EventKind.UNDO_FINISHED, EventKind.UNDO_FAILED):
            self._undoing.discard(step)
            await led.update_step(
                self.id, step,
                undo_status="undone" if k is EventKind.UNDO_FINISHED else "undo_failed",
                undo_message=event.message,
            )
