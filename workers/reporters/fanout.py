"""Send each event to several reporters. A reporter that fails (GitHub down, a closed
terminal) must never fail the deployment, so its error is logged and swallowed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from workers.runbook.events import Event, Reporter

log = logging.getLogger(__name__)


class Fanout:
    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self.reporters = list(reporters)

    async def emit(self, event: Event) -> None:
        for reporter in self.reporters:
            try:
                await reporter.emit(event)
            except Exception:
                log.exception("reporter %s failed on %s",
                              getattr(reporter, "name", type(reporter).__name__), event.kind)
