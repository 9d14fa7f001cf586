"""What the engine tells reporters. Reporters turn these into console lines, ledger rows,
check runs, comments and deployment statuses."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class EventKind(StrEnum):
    DEPLOYMENT_STARTED = "deployment_started"
    STARTED = "started"  # a step began
    PROGRESS = "progress"  # a short status line for the step (replaces the previous one)
    OUTPUT = "output"  # log text of the step (appended)
    FINISHED = "finished"  # the step succeeded
    SKIPPED = "skipped"  # the step had nothing to do or was not run
    FAILED = "failed"  # the step failed; data may hold "annotations"
    UNDO_STARTED = "undo_started"
    UNDO_FINISHED = "undo_finished"
    UNDO_FAILED = "undo_failed"
    # What a step changed, as plain JSON, written down before it matters: if the worker dies,
    # another one reads this journal from the ledger to put the environment back.
    JOURNAL = "journal"
    DEPLOYMENT_FINISHED = "deployment_finished"  # data["outcome"] is an Outcome value


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    UP_TO_DATE = "up_to_date"
    PLANNED = "planned"  # a dry run that found no problem
    ROLLED_BACK = "rolled_back"  # failed, and the environment is as it was before
    FAILED = "failed"  # failed before anything changed
    ROLLBACK_FAILED = "rollback_failed"  # failed and could not be undone: a person is needed


@dataclass(frozen=True)
class Annotation:
    """A pointer to the line of a repository file that caused a failure."""

    path: str
    line: int
    message: str
    title: str = ""
    level: str = "failure"  # GitHub's annotation levels: notice, warning, failure


@dataclass(frozen=True)
class Event:
    kind: EventKind
    step: str | None = None
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class Reporter(Protocol):
    async def emit(self, event: Event) -> None: ...
