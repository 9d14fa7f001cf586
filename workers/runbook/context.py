"""What a step gets: the environment, the source tree, a reporter, and shared state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.config.model import Config, EnvironmentConfig
from workers.drivers.interfaces import BackupStore, Database, FunctionReleases
from workers.runbook.events import Annotation, Event, EventKind, Reporter
from workers.runbook.run_state import RunState

if TYPE_CHECKING:
    from workers.notify import Announcement


@dataclass(frozen=True)
class SourceTree:
    """The repository at the pinned commit, checked out read-only in `root`."""

    root: Path
    commit: str
    ref: str = ""

    def path(self, relpath: str) -> Path:
        return self.root / relpath


@dataclass
class Environment:
    """An environment resolved for one deployment: its settings and drivers."""

    name: str
    config: EnvironmentConfig
    database: Database
    backups: BackupStore
    functions: FunctionReleases
    anon_key: str = field(repr=False, default="")
    # Gives the base URL of a function host serving this environment's active release
    # (started on demand on loopback when the config names none).
    functions_url: Callable[[], Awaitable[str]] | None = None
    close: Callable[[], Awaitable[None]] | None = None


@dataclass
class DeployContext:
    deployment_id: int
    environment: Environment
    source: SourceTree
    config: Config
    reporter: Reporter
    dry_run: bool = False
    # What steps recorded for later steps and for undo (backup, applied migrations, ...).
    state: RunState = field(default_factory=RunState)
    current_step: str | None = None
    # What the current step (or its undo) came to, in a few words: the note it keeps once
    # it has ended, instead of the last thing it was doing.
    step_outcome: str = ""
    # Tells the team before anything changes (runbook: "Team notified of deployment
    # window"); the caller decides where (a PR comment, Slack, the terminal).
    announce: Callable[[Announcement], Awaitable[None]] | None = None

    async def output(self, text: str) -> None:
        """Append log text to the current step."""
        if text:
            await self.reporter.emit(Event(EventKind.OUTPUT, self.current_step, text))

    async def annotate(self, text: str, annotations: list[Annotation]) -> None:
        """Append log text with annotations of repository lines (warnings of a step that
        goes on: they reach the check run with the deployment's end)."""
        await self.reporter.emit(Event(EventKind.OUTPUT, self.current_step, text,
                                       {"annotations": annotations}))

    async def journal(self, key: str, value: Any) -> None:
        """Write down (JSON) what this step changed, for recovery by another worker."""
        await self.reporter.emit(Event(EventKind.JOURNAL, self.current_step, key,
                                       {"key": key, "value": value}))

    async def progress(self, message: str, **data: Any) -> None:
        """Replace the current step's one-line status (while it runs)."""
        await self.reporter.emit(Event(EventKind.PROGRESS, self.current_step, message, data))

    async def outcome(self, message: str, **data: Any) -> None:
        """What the current step (or its undo) came to — "7 tests passed", "release 4
        active": shown now, and kept as the step's note once it ends."""
        self.step_outcome = message
        await self.progress(message, **data)
