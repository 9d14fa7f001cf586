"""Every dashboard route, for service/app.py to mount."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from service.dashboard import actions, auth, ids, pages, stream

STATIC = Path(__file__).with_name("static")


def routes() -> list[BaseRoute]:
    ids.register()  # before the routes that use `{name:id}` are built
    return [*pages.routes(), *stream.routes(), *actions.routes, *auth.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static")]
