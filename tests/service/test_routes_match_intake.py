"""The intake enqueues exactly what the worker's router handles."""

from __future__ import annotations

from service.webhooks.interest import HANDLED, is_handled
from workers.handlers.routes import ROUTER


def test_every_route_is_let_in_and_everything_let_in_has_a_route() -> None:
    routes = ROUTER.routes()
    for event, action in routes:
        assert is_handled(event, action) or (action is None and event in HANDLED), (event, action)
    for event, actions in HANDLED.items():
        if actions is None:
            assert (event, None) in routes
        else:
            for action in actions:
                assert (event, action) in routes or (event, None) in routes, (event, action)
