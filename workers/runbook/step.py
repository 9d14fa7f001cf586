"""A runbook step as data: a name, what it does, and how to undo it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workers.runbook.events import Annotation

if TYPE_CHECKING:
    from workers.runbook.context import DeployContext

StepFn = Callable[["DeployContext"], Awaitable[None]]


class StepFailed(Exception):
    """A step found a stop-the-line condition. `reason` is one line a person can act on."""

    def __init__(
        self,
        reason: str,
        *,
        output: str = "",
        annotations: Sequence[Annotation] = (),
        stop_the_line: str = "",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.output = output
        self.annotations = list(annotations)
        # Which runbook stop-the-line condition this is (e.g. "migration error"), if any.
        self.stop_the_line = stop_the_line


class Refused(StepFailed):
    """A check made before anything ran says no (the pre-production checklist): the run is
    refused, not failed. `detail` is the structured verdict reporters render for where they
    show it."""

    def __init__(self, reason: str, *, detail: Any = None, output: str = "",
                 stop_the_line: str = "") -> None:
        super().__init__(reason, output=output, stop_the_line=stop_the_line)
        self.detail = detail


class StepSkipped(Exception):
    """Raised by a step that has nothing to do; the message says why."""


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: StepFn
    # Undo what `run` changed, using what run recorded in ctx.state. Called for a step that
    # finished and also for the step that failed (it may have changed part of the world).
    undo: StepFn | None = None
    # Runs in a dry run too (it changes nothing).
    read_only: bool = False
    # Its undo changes nothing: it checks that the other steps' undo left the environment
    # as it was. It runs (last) only when another step is undone.
    undo_verifies: bool = False
    # Extra detail for reporters (e.g. the runbook section it automates).
    runbook: str = field(default="", compare=False)
