"""What the web process's handlers share, typed: built by the lifespan and handed to every
request through Starlette's lifespan state (`request.state.web`), not set on `app.state`
one attribute at a time.

Two servers use these handlers: `deploybot serve` (`WebState`) and the one-process server
of `deploybot setup` (`SetupState`), which has no database or Redis. The /setup pages
and the dashboard's page rendering accept either; everything else needs a `WebState`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from starlette.requests import HTTPConnection
from starlette.types import Scope

from service.dashboard.config import DashboardConfig

if TYPE_CHECKING:
    from arq.connections import ArqRedis
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow
    from psycopg_pool import AsyncConnectionPool

    from service.observability.shared import BufferedCounters
    from service.webhooks.writer import DeliveryWriter


@dataclass
class WebState:
    db: AsyncConnectionPool[AsyncConnection[DictRow]]
    redis: ArqRedis
    prefix: str  # of every Redis key this server writes
    writer: DeliveryWriter
    counters: BufferedCounters
    dashboard: DashboardConfig  # replaced once /setup has registered the App
    webhook_secret: str  # "" until the App is set up: /webhooks answers 503
    metrics_token: str = field(default="", repr=False)
    api_token: str = field(default="", repr=False)
    loopback_only: bool = False  # listening on loopback only: /metrics needs no token


@dataclass
class SetupState:
    """`deploybot setup`'s server: reachable on loopback by whoever ran the command."""
    dashboard: DashboardConfig
    on_done: Callable[[dict[str, Any]], None]
    public_url_for_hooks: str = ""
    org: str = ""
    webhook_secret: str = ""
    states: set[str] = field(default_factory=set)  # registrations it started


class Lifespan(TypedDict):
    web: WebState | SetupState


class NotServing(RuntimeError):
    """A handler that needs the database ran in a server without one (a wiring bug)."""


def any_state(conn: HTTPConnection) -> WebState | SetupState:
    state: WebState | SetupState = conn.state.web
    return state


def web_state(conn: HTTPConnection) -> WebState:
    state = any_state(conn)
    if not isinstance(state, WebState):
        raise NotServing(f"{conn.url.path} needs `deploybot serve`")
    return state


def scope_state(scope: Scope) -> WebState | None:
    """For plain ASGI endpoints: the server's state from the request's scope."""
    state = scope.get("state", {}).get("web")
    return state if isinstance(state, WebState) else None
