"""Turn a stored release into running function apps.

The bundle is extracted once into `<data dir>/function-cache/<db identity>/<release id>/`
and each function directory is imported as a package under a name unique to the release,
so two releases of the same function live side by side while the host switches.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from workers.drivers.functions import ReleaseBundle, digest_of
from workers.safe_extract import extract_tar

log = logging.getLogger("deploybot.functions_host")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MARKER = ".deploybot-release.json"
LIFESPAN_TIMEOUT = 30.0


def database_identity(db_url: str) -> str:
    """A directory name for the database: readable, unique per server and database, and
    free of secrets (the password never enters it)."""
    try:
        info = conninfo_to_dict(db_url)
    except Exception:  # a URL psycopg cannot parse will fail to connect anyway
        info = {}
    where = f"{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(info.get("dbname") or "db"))[:40]
    return f"{name}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def module_identifier(slug: str) -> str:
    ident = re.sub(r"\W", "_", slug, flags=re.ASCII)
    return ident if ident == slug.replace("-", "_") else f"{ident}_{_short_hash(slug)}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


# --------------------------------------------------------------------------- extraction


def extract_release(bundle: ReleaseBundle, cache_root: Path) -> Path:
    """The release's directory in the cache, extracted (and checked against its digest) if
    it is not there yet. Host replicas sharing the cache extract a release one at a time
    (a lock file), so none replaces a directory another is importing from."""
    final = cache_root / str(bundle.id)
    if _marker_digest(final) == bundle.digest:
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / f".{bundle.id}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _marker_digest(final) == bundle.digest:  # another replica just made it
            return final
        tmp = cache_root / f".{bundle.id}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            extract_tar(bundle.bundle, tmp)  # every member checked: plain files, inside
            got = digest_of(tmp)
            if got != bundle.digest:
                raise ValueError(
                    f"release {bundle.id}'s bundle does not match its digest "
                    f"(stored {bundle.digest[:12]}, content {got[:12]})"
                )
            (tmp / MARKER).write_text(json.dumps({"id": bundle.id, "commit": bundle.commit,
                                                  "digest": bundle.digest}))
            if final.exists():
                # Stale: the database was recreated and reuses release ids.
                stale = cache_root / f".{bundle.id}.stale-{secrets.token_hex(4)}"
                final.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
            tmp.rename(final)
            return final
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _marker_digest(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / MARKER).read_text())["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- lifespan


class AppLifespan:
    """Runs an ASGI app's lifespan protocol like a server would (uvicorn's "auto" mode: an
    app that does not speak it is served without)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self, limit_s: float = LIFESPAN_TIMEOUT) -> None:
        """Raises RuntimeError when the app reports a failed startup or takes too long."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}

        async def run() -> None:
            await self.app(scope, self._to_app.get, self._from_app.put)

        self._task = asyncio.create_task(run())
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._next_message(limit_s)
        if message is None:
            self._task = None  # finished or raised: the app has no lifespan support
            return
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(str(message.get("message") or "lifespan startup failed"))
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"unexpected lifespan message {message['type']!r}")

    async def shutdown(self, limit_s: float = LIFESPAN_TIMEOUT) -> None:
        if self._task is None or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            await self._next_message(limit_s)
        finally:
            if not self._task.done():
                self._task.cancel()

    async def _next_message(self, limit_s: float) -> Message | None:
        assert self._task is not None
        getter = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait({getter, self._task}, timeout=limit_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self._task in done:
            exc = self._task.exception()
            if exc is not None:
                log.debug("lifespan unsupported by %r: %r", self.app, exc)
            return None
        self._task.cancel()
        raise RuntimeError(f"lifespan did not answer within {limit_s:.0f} s")


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedFunction:
    slug: str
    app: ASGIApp | None = None
    error: str | None = None  # why it cannot serve (then every request gets a 500)
    module_name: str | None = None
    lifespan: AppLifespan | None = None


@dataclass
class LoadedRelease:
    id: int | None
    commit: str | None
    digest: str | None
    functions: dict[str, LoadedFunction]
    loaded_at: float = field(default_factory=time.time)
    error: str | None = None
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def __post_init__(self) -> None:
        self.idle.set()

    def enter(self) -> None:
        """A request starts using the release (it is not unloaded under the request)."""
        self.inflight += 1
        self.idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self.idle.set()

    @property
    def errors(self) -> dict[str, str]:
        return {slug: f.error for slug, f in self.functions.items() if f.error}

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "commit": self.commit, "digest": self.digest,
                "slugs": sorted(self.functions), "loaded_at": self.loaded_at,
                "errors": self.errors, "error": self.error}


def no_release() -> LoadedRelease:
    return LoadedRelease(id=None, commit=None, digest=None, functions={})


def _describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:299] + "…"


def _import_function(release_dir: Path, release_id: int, slug: str) -> LoadedFunction:
    directory = release_dir / slug
    base = f"deploybot_fn_r{release_id}_{module_identifier(slug)}"
    name, generation = base, 0
    while name in sys.modules:  # the same release loaded again while the old copy drains
        generation += 1
        name = f"{base}_g{generation}"
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        return LoadedFunction(slug, error=f"cannot import {slug}/__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # relative imports inside the package look it up here
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a function must not stop the host
        log.exception("function %s of release %s failed to import", slug, release_id)
        _purge_modules(name)
        return LoadedFunction(slug, error=f"import failed: {_describe_error(exc)}")
    app = getattr(module, "app", None)
    if app is None or not callable(app):
        _purge_modules(name)
        return LoadedFunction(
            slug, error=f"{slug}/__init__.py defines no ASGI `app` (export one: app = ...)"
        )
    return LoadedFunction(slug, app=app, module_name=name)


def _purge_modules(name: str) -> None:
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _load_sync(bundle: ReleaseBundle, cache_root: Path) -> LoadedRelease:
    try:
        release_dir = extract_release(bundle, cache_root)
    except Exception as exc:
        log.exception("release %s could not be extracted", bundle.id)
        error = f"bundle could not be extracted: {_describe_error(exc)}"
        return LoadedRelease(bundle.id, bundle.commit, bundle.digest,
                             {s: LoadedFunction(s, error=error) for s in bundle.slugs},
                             error=error)
    importlib.invalidate_caches()
    functions = {slug: _import_function(release_dir, bundle.id, slug) for slug in bundle.slugs}
    return LoadedRelease(bundle.id, bundle.commit, bundle.digest, functions)


async def load_release(bundle: ReleaseBundle, cache_root: Path) -> LoadedRelease:
    """Extract and import in a thread (the host keeps serving meanwhile), then start each
    function's lifespan. Failures are recorded per function, never raised: a release that
    cannot serve must still replace the old one, so smoke tests see its errors."""
    release = await asyncio.to_thread(_load_sync, bundle, cache_root)
    for fn in release.functions.values():
        if fn.app is None:
            continue
        lifespan = AppLifespan(fn.app)
        try:
            await lifespan.startup()
        except Exception as exc:
            log.error("function %s of release %s failed to start: %s", fn.slug, bundle.id, exc)
            fn.error = f"startup failed: {_describe_error(exc)}"
            fn.app = None
            continue
        fn.lifespan = lifespan
    return release


async def unload_release(release: LoadedRelease, *, drain_s: float = 60.0) -> None:
    """Wait for the release's requests in flight, stop its apps and forget its modules."""
    try:
        await asyncio.wait_for(release.idle.wait(), drain_s)
    except TimeoutError:
        log.warning("release %s still had %d request(s) running after %.0f s; unloading",
                    release.id, release.inflight, drain_s)
    for fn in release.functions.values():
        if fn.lifespan is not None:
            try:
                await fn.lifespan.shutdown(limit_s=10.0)
            except Exception as exc:
                log.warning("function %s of release %s did not shut down cleanly: %s",
                            fn.slug, release.id, exc)
        if fn.module_name:
            _purge_modules(fn.module_name)
