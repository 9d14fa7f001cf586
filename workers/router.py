"""Route a webhook delivery to the handlers registered for its event and action.

Handlers are plain functions, one module per behaviour (like bedevere's routers); which
handler answers which event is wired in one place, `workers/handlers/routes.py`, and the
intake's list of interesting events is checked against it by a test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.jobs.context import WorkerContext


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    payload: dict[str, Any]


Handler = Callable[["WorkerContext", Delivery], Awaitable[str]]


@dataclass(frozen=True)
class Route:
    event: str
    action: str | None  # None: every action of the event
    handler: Handler


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: dict[tuple[str, str | None], list[Handler]] = {}
        for r in routes:
            self._routes.setdefault((r.event, r.action), []).append(r.handler)

    def routes(self) -> set[tuple[str, str | None]]:
        return set(self._routes)

    async def dispatch(self, ctx: WorkerContext, delivery: Delivery) -> list[str]:
        """Run every matching handler; each returns a one-line result for the ledger."""
        handlers = [*self._routes.get((delivery.event, delivery.action), []),
                    *self._routes.get((delivery.event, None), [])]
        return [await h(ctx, delivery) for h in handlers]

