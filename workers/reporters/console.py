"""Live progress of a deployment on the terminal, and a summary table at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from workers.runbook.events import Event, EventKind, Outcome

_ICON = {
    "pending": ("·", "dim"),
    "running": ("", "cyan"),
    "succeeded": ("✓", "green"),
    "skipped": ("–", "dim"),
    "failed": ("✗", "red"),
    "refused": ("✗", "red"),
    "undoing": ("↺", "yellow"),
    "undone": ("↺", "yellow"),
    "undo_failed": ("‼", "bold red"),
}

OUTCOME_TEXT = {
    Outcome.SUCCEEDED: ("deployed", "bold green"),
    Outcome.UP_TO_DATE: ("already up to date: nothing to deploy", "bold green"),
    Outcome.PLANNED: ("dry run: nothing was changed", "bold cyan"),
    Outcome.ROLLED_BACK: ("failed — rolled back: the environment is as it was before",
                          "bold yellow"),
    Outcome.FAILED: ("failed before changing anything", "bold red"),
    Outcome.ROLLBACK_FAILED: ("FAILED AND THE ROLLBACK FAILED — a person is needed now",
                              "bold white on red"),
}


@dataclass
class _StepView:
    name: str
    title: str
    status: str = "pending"
    note: str = ""
    started: float | None = None
    duration: float | None = None
    undo: str = ""


@dataclass
class ConsoleReporter:
    console: Console = field(default_factory=Console)
    show_output: bool = True
    steps: dict[str, _StepView] = field(default_factory=dict)
    outcome: Outcome | None = None
    reason: str = ""
    _live: Live | None = None
    rollback_of: int | None = None

    async def emit(self, event: Event) -> None:
        k = event.kind
        if k is EventKind.DEPLOYMENT_STARTED:
            titles = dict(event.data.get("titles", {}))
            self.steps = {n: _StepView(n, titles.get(n, n)) for n in event.data["steps"]}
            head = f"deploying {str(event.data.get('commit', ''))[:12]} to {event.message}"
            self.rollback_of = event.data.get("rollback_of")
            if self.rollback_of:
                head = f"rolling back deployment #{self.rollback_of} on {event.message}"
            if event.data.get("dry_run"):
                head = f"dry run of {str(event.data.get('commit', ''))[:12]} on {event.message}"
            self.console.print(Text(head, style="bold"))
            if self.console.is_terminal:
                self._live = Live(self._render(), console=self.console, refresh_per_second=8,
                                  transient=True)
                self._live.start()
            return
        if k is EventKind.DEPLOYMENT_FINISHED:
            self.outcome = Outcome(event.data["outcome"])
            self.reason = event.message
            if self._live is not None:
                self._live.stop()
                self._live = None
            if event.data.get("refused"):
                # Nothing ran: the verdict, once, instead of a table of skipped steps.
                from workers.gates.render import terminal

                self.console.print(terminal(event.data["refusal"]), highlight=False,
                                   soft_wrap=False)
                return
            self.console.print(self.summary())
            return
        view = self.steps.get(event.step or "")
        if view is None:
            return
        if k is EventKind.STARTED:
            view.status, view.started = "running", time.monotonic()
            self._line(f"▸ {view.title}", "cyan")
        elif k is EventKind.PROGRESS and not view.undo:
            view.note = event.message
        elif k is EventKind.OUTPUT and self.show_output:
            for line in event.message.rstrip("\n").splitlines():
                self._line(f"    {line}", "")
        elif k in (EventKind.FINISHED, EventKind.SKIPPED, EventKind.FAILED):
            view.status = {EventKind.FINISHED: "succeeded", EventKind.SKIPPED: "skipped",
                           EventKind.FAILED: "failed"}[k]
            view.duration = event.data.get("duration")
            # a finished step keeps its outcome, never its last progress line
            view.note = event.message if k is EventKind.FINISHED else event.message or view.note
            if k is EventKind.FAILED and "refusal" in event.data:
                view.status = "refused"  # its verdict is printed once, at the end
            elif k is EventKind.FAILED:
                self._line(f"✗ {view.title}: {event.message}", "red")
                out = str(event.data.get("output") or "")
                if out and self.show_output:
                    for line in out.rstrip("\n").splitlines()[-40:]:
                        self._line(f"    {line}", "red")
        elif k is EventKind.UNDO_STARTED:
            view.undo = "undoing"
            self._line(f"↺ undo {view.title}", "yellow")
        elif k is EventKind.UNDO_FINISHED:
            view.undo = "undone"
            if event.message:  # what the undo came to: the step's note from now on
                view.note = event.message
        elif k is EventKind.UNDO_FAILED:
            view.undo = "undo_failed"
            self._line(f"‼ undo of {view.title} failed: {event.message}", "bold red")
        if self._live is not None:
            self._live.update(self._render())

    def _line(self, text: str, style: str) -> None:
        self.console.print(Text(text, style=style), highlight=False)

    def _render(self) -> RenderableType:
        rows: list[RenderableType] = []
        for v in self.steps.values():
            if v.status == "running":
                rows.append(Spinner("dots", Text(f"{v.title}  {v.note}", style="cyan")))
            else:
                icon, style = _ICON[v.status]
                rows.append(Text(f"{icon} {v.title}", style=style))
        return Group(*rows)

    def summary(self) -> RenderableType:
        table = Table(title="runbook", show_lines=False, expand=False)
        table.add_column("step")
        table.add_column("status")
        table.add_column("time", justify="right")
        table.add_column("note", overflow="fold", max_width=70)
        for v in self.steps.values():
            status = v.status if not v.undo else f"{v.status}, {v.undo.replace('_', ' ')}"
            icon, style = _ICON[v.undo or v.status]
            dur = f"{v.duration:.2f}s" if v.duration is not None else ""
            table.add_row(v.name, Text(f"{icon} {status}", style=style), dur, v.note)
        parts: list[RenderableType] = [table]
        if self.outcome is not None:
            text, style = OUTCOME_TEXT[self.outcome]
            if self.rollback_of and self.outcome is Outcome.SUCCEEDED:
                text = f"rolled back deployment #{self.rollback_of}"
            line = Text(text, style=style)
            if self.reason and self.outcome not in (Outcome.SUCCEEDED, Outcome.UP_TO_DATE):
                line.append(f"\nreason: {self.reason}", style="")
            parts.append(line)
        return Group(*parts)
