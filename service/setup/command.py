"""`deploybot setup`: register the GitHub App from `app.yml` through GitHub's manifest flow.

A little web server on loopback shows the page that sends the manifest to GitHub; GitHub
creates the App, redirects back with a one-time code, and the code is traded for the App's
credentials, stored 0600 under the data directory (where `serve` and `worker` read them).
`--code` finishes a registration whose redirect could not reach this machine."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import webbrowser
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service.dashboard.config import DashboardConfig, web_url_for
from service.dashboard.headers import SecurityHeaders
from service.dashboard.routes import STATIC
from service.setup import credentials, routes
from service.setup.exchange import SetupError, convert
from service.web_state import Lifespan, SetupState


@dataclass(frozen=True)
class SetupOptions:
    data_dir: Path
    api_url: str = "https://api.github.com"
    web_url: str = ""  # "" → derived from api_url
    public_url: str = ""  # where GitHub sends webhooks ("" → set it later in the App)
    org: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    manifest: Path | None = None
    open_browser: bool = True
    force: bool = False
    timeout: float = 900.0
    code: str = ""


class SetupFailed(RuntimeError):
    pass


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def build_app(options: SetupOptions, port: int, done: Callable[[dict[str, Any]], None]
              ) -> Starlette:
    async def index(request: Request) -> Response:
        return RedirectResponse("/setup", status_code=303)

    state = SetupState(
        dashboard=DashboardConfig(
            github_web_url=options.web_url or web_url_for(options.api_url),
            github_api_url=options.api_url, public_url=f"http://{options.host}:{port}",
            data_dir=options.data_dir, manifest_path=options.manifest),
        on_done=done, public_url_for_hooks=options.public_url, org=options.org)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Lifespan]:
        yield {"web": state}

    app = Starlette(routes=[Route("/", index), *routes.routes,
                            Mount("/static", StaticFiles(directory=STATIC), name="static")],
                    lifespan=lifespan)
    return app


async def _serve(options: SetupOptions, say: Callable[[str], None]) -> dict[str, Any]:
    port = options.port or _free_port(options.host)
    finished: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def done(stored: dict[str, Any]) -> None:
        if not finished.done():
            finished.set_result(stored)

    app = SecurityHeaders(build_app(options, port, done))
    server = uvicorn.Server(uvicorn.Config(app, host=options.host, port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # the address is given out only once it answers
        if task.done():
            raise SetupFailed(f"could not listen on {options.host}:{port}; choose another "
                              "with --port")
        await asyncio.sleep(0.02)
    url = f"http://{options.host}:{port}/setup"
    say(f"Open {url} in a browser to register the GitHub App "
        + (f"for the organization {options.org}" if options.org else "") + ".")
    if options.open_browser:
        with contextlib.suppress(Exception):
            webbrowser.open(url)
    try:
        return await asyncio.wait_for(asyncio.shield(finished), options.timeout)
    except TimeoutError:
        raise SetupFailed(f"no registration finished within {options.timeout:.0f} s; run "
                          "`deploybot setup` again") from None
    finally:
        await asyncio.sleep(0.5)  # let the browser get its page
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task


async def run(options: SetupOptions, say: Callable[[str], None] = print) -> dict[str, Any]:
    existing = credentials.stored(options.data_dir)
    if existing and not options.force:
        raise SetupFailed(f"already set up: App {existing.get('slug') or existing.get('app_id')}"
                          f" is stored in {credentials.path(options.data_dir)}; --force "
                          "registers a new one")
    if options.code:
        try:
            answer = await convert(options.api_url, options.code)
        except SetupError as exc:
            raise SetupFailed(str(exc)) from None
        stored = credentials.store(options.data_dir, answer, api_url=options.api_url)
    else:
        stored = await _serve(options, say)
    view = credentials.public_view(stored)
    say(f"GitHub App {view.get('slug') or view.get('name')} (id {view['app_id']}) registered; "
        f"its credentials are in {credentials.path(options.data_dir)} (readable by you only).")
    if view.get("html_url"):
        say(f"Install it on your repositories: {view['html_url']}/installations/new")
    if not options.public_url:
        say("Its webhook is inactive until you set the App's webhook URL to this server's "
            "public address + /webhooks.")
    return stored
