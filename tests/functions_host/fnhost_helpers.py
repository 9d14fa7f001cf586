"""Helpers for the function host tests: small function packages written into a tmp dir."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from service.config.model import Config, EnvironmentConfig
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.interfaces import Database, FunctionReleases
from workers.runbook.context import DeployContext, Environment, SourceTree
from workers.runbook.events import Event, EventKind

ANON_KEY = "anon-key-for-tests-0123456789"
SERVICE_KEY = "service-key-for-tests-9876543210"

# A raw ASGI function (no lifespan support) that tells which version answered.
VERSION_APP = '''
import json
import os

VERSION = {version!r}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({{
        "version": VERSION,
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "method": scope["method"],
        "env": sorted(os.environ),
        "db_url_set": bool(os.environ.get("SUPABASE_DB_URL")),
    }}).encode()
    await send({{"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]}})
    await send({{"type": "http.response.body", "body": body}})
'''

RAISING_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    raise RuntimeError("secret internal detail: do not leak me")
'''

# A Starlette app with a lifespan that puts something into the request state.
STARLETTE_APP = '''
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from .greeting import GREETING


@asynccontextmanager
async def lifespan(app):
    yield {"started": "yes"}


async def hello(request):
    return JSONResponse({"greeting": GREETING, "started": request.state.started})


app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])], lifespan=lifespan)
'''


def write_function(root: Path, slug: str, source: str, **extra: str) -> Path:
    """functions/<slug>/__init__.py (plus other modules of the package)."""
    directory = root / slug
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__init__.py").write_text(textwrap.dedent(source))
    for name, text in extra.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(text))
    return directory


def write_version(root: Path, slug: str, version: str) -> Path:
    return write_function(root, slug, VERSION_APP.format(version=version))


def auth(key: str = ANON_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def wait_for(predicate: Callable[[], Awaitable[bool]], deadline_s: float = 10.0,
                   what: str = "condition") -> None:
    """Poll until `predicate` holds; a generous deadline, not a timing assertion."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not await predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def version_of(client: httpx.AsyncClient, base: str, slug: str = "hello") -> Any:
    response = await client.get(f"{base}/functions/v1/{slug}", headers=auth())
    if response.status_code != 200:
        return response.status_code
    return response.json()["version"]




class Recorder:
    """A reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    def output(self, step: str | None = None) -> str:
        return "\n".join(e.message for e in self.events
                         if e.kind == EventKind.OUTPUT and (step is None or e.step == step))


def make_env(database: Database, releases: FunctionReleases,
             host: FunctionHostProcess | None, anon_key: str = ANON_KEY) -> Environment:
    return Environment(
        name="staging",
        config=EnvironmentConfig(name="staging", database_url_env="STAGING_DATABASE_URL"),
        database=database,
        backups=None,  # type: ignore[arg-type]  # not used by these steps
        functions=releases,
        anon_key=anon_key,
        functions_url=host.ensure_started if host is not None else None,
    )


def make_ctx(env: Environment, root: Path, commit: str = "f" * 40,
             reporter: Recorder | None = None) -> DeployContext:
    return DeployContext(deployment_id=1, environment=env, source=SourceTree(root, commit),
                         config=Config(environments={"staging": env.config}),
                         reporter=reporter or Recorder())
