"""The state of a deployment as reporters see it, folded from the engine's events.

Reporters that publish snapshots (a check run, a summary comment, a dashboard page) keep a
Progress and render it; they never need the engine's internals."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.ledger.rows import DeploymentWithSteps
from workers.runbook.events import Annotation, Event, EventKind, Outcome


@dataclass
class StepState:
    name: str
    title: str
    status: str = "pending"  # pending running succeeded skipped failed
    note: str = ""
    output: str = ""
    duration: float | None = None
    undo: str = ""  # "" | running | undone | undo_failed
    undo_note: str = ""
    # Markdown a step offers the summary (the checklist table, the plan); not kept in the
    # ledger, so a report rebuilt from it has none.
    section: str = ""


@dataclass
class Progress:
    environment: str = ""
    commit: str = ""
    dry_run: bool = False
    rollback_of: int | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    outcome: Outcome | None = None
    reason: str = ""
    failed_step: str | None = None
    stop_the_line: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None

    def apply(self, event: Event) -> None:
        k = event.kind
        if k is EventKind.DEPLOYMENT_STARTED:
            titles = dict(event.data.get("titles", {}))
            self.environment = event.message
            self.commit = str(event.data.get("commit", ""))
            self.dry_run = bool(event.data.get("dry_run"))
            self.rollback_of = event.data.get("rollback_of")
            self.steps = {n: StepState(n, titles.get(n, n)) for n in event.data["steps"]}
            self.started_at = event.at
            return
        if k is EventKind.DEPLOYMENT_FINISHED:
            self.outcome = Outcome(event.data["outcome"])
            self.reason = event.message
            self.failed_step = event.data.get("failed_step")
            self.stop_the_line = str(event.data.get("stop_the_line") or "")
            self.finished_at = event.at
            return
        step = self.steps.get(event.step or "")
        if step is None:
            return
        if k is EventKind.STARTED:
            step.status = "running"
        elif k is EventKind.PROGRESS:
            # an undo's progress is the undo's; the step keeps what it came to
            if step.undo == "running":
                step.undo_note = event.message
            else:
                step.note = event.message
            if event.data.get("section"):
                step.section = str(event.data["section"])
        elif k is EventKind.OUTPUT:
            step.output += event.message if event.message.endswith("\n") else event.message + "\n"
            self.annotations.extend(event.data.get("annotations") or [])
        elif k in (EventKind.FINISHED, EventKind.SKIPPED, EventKind.FAILED):
            step.status = {EventKind.FINISHED: "succeeded", EventKind.SKIPPED: "skipped",
                           EventKind.FAILED: "failed"}[k]
            step.duration = event.data.get("duration")
            # a finished step keeps its outcome, never its last progress line
            step.note = event.message if k is EventKind.FINISHED else event.message or step.note
            if k is EventKind.FAILED:
                out = str(event.data.get("output") or "")
                if out:
                    step.output += out if out.endswith("\n") else out + "\n"
                self.annotations.extend(event.data.get("annotations") or [])
        elif k is EventKind.UNDO_STARTED:
            step.undo, step.undo_note = "running", ""
        elif k is EventKind.UNDO_FINISHED:
            step.undo, step.undo_note = "undone", event.message
        elif k is EventKind.UNDO_FAILED:
            step.undo, step.undo_note = "undo_failed", event.message

    @classmethod
    def from_ledger(cls, dep: DeploymentWithSteps) -> Progress:
        """A deployment as its ledger row holds it (`Ledger.get`, steps included), for a
        report sent after the worker that ran it has gone. Annotations are not kept there."""
        status = str(dep.get("status") or "")
        started, finished = dep.get("started_at"), dep.get("finished_at")
        return cls(
            environment=dep["environment"], commit=dep["commit_sha"],
            dry_run=dep.get("kind") == "dry_run", rollback_of=dep.get("rollback_of"),
            steps={s["name"]: StepState(
                s["name"], s["title"] or s["name"], s["status"], s["message"] or "",
                output=s.get("output") or "",
                duration=s["duration_ms"] / 1000 if s["duration_ms"] is not None else None,
                undo=s["undo_status"] or "", undo_note=s["undo_message"] or "")
                for s in dep["steps"]},
            outcome=Outcome(status) if status in set(Outcome) else None,
            reason=dep.get("reason") or "", failed_step=dep.get("failed_step"),
            stop_the_line=dep.get("stop_the_line") or "",
            started_at=started.timestamp() if started else None,
            finished_at=finished.timestamp() if finished else None)

    @property
    def running(self) -> StepState | None:
        return next((s for s in self.steps.values() if s.status == "running"), None)

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or self.started_at) - self.started_at
