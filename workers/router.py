"""Route a webhook delivery to the handlers registered for its event and action.

Handlers register with a decorator, one module per behaviour (like bedevere's routers);
the intake's list of interesting events is checked against this registry by a test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


class Router:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str | None], list[Handler]] = {}

    def register(self, event: str, action: str | None = None) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self._routes.setdefault((event, action), []).append(fn)
            return fn
        return decorate

    def routes(self) -> set[tuple[str, str | None]]:
        return set(self._routes)

    async def dispatch(self, ctx: WorkerContext, delivery: Delivery) -> list[str]:
        """Run every matching handler; each returns a one-line result for the ledger."""
        handlers = [*self._routes.get((delivery.event, delivery.action), []),
                    *self._routes.get((delivery.event, None), [])]
        return [await h(ctx, delivery) for h in handlers]


router = Router()
