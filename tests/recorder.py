"""A reporter for the engine's tests: keeps every event a deployment emits."""

from __future__ import annotations

from workers.runbook.events import Event, EventKind


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: EventKind, step: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == kind and (step is None or e.step == step)]

    def kinds(self, step: str) -> list[str]:
        """What happened to one step, in order (the deployment's own end left out)."""
        return [e.kind.value for e in self.events
                if e.step == step and e.kind is not EventKind.DEPLOYMENT_FINISHED]

    def output(self, step: str | None = None) -> str:
        return "\n".join(e.message for e in self.of(EventKind.OUTPUT, step))

    def text(self) -> str:
        return "\n".join(f"{e.kind} {e.message} {e.data}" for e in self.events)
