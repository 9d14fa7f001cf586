"""Turn a stored release into running functions.

The bundle is extracted once into `<data dir>/function-cache/<db identity>/<release id>/`
(every member checked by us: regular files at plain relative paths, nothing else), its
dependencies are fetched into the environment's Deno cache, and each function starts in its
own sandboxed Deno process. Two releases live side by side while the host switches; the
old one is stopped once its requests have ended.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from service.denotool import DenoNotFound
from workers.drivers.functions import ReleaseBundle, digest_of_tree, read_manifest
from workers.functions_host.deno_runtime import (
    DenoFunction,
    FunctionEnvironment,
    fetch_dependencies,
)
from workers.repository.function_files import EdgeFunction
from workers.safe_extract import UnsafeArchive, extract_tar
from workers.sandbox.bubblewrap import Sandbox, SandboxUnavailable, sandbox_from_env
from workers.sandbox.runner import hand_over

log = logging.getLogger("deploybot.functions_host")

MARKER = ".deploybot-release.json"


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


# --------------------------------------------------------------------------- extraction


class UnsafeBundle(ValueError):
    """A release's bundle that does not match its digest."""


def _extract_files(data: bytes, dest: Path) -> None:
    """Every member checked before anything is written (workers/safe_extract.py: the one
    place archives are unpacked; tarfile's own filter has had bypasses)."""
    extract_tar(data, dest)


def extract_release(bundle: ReleaseBundle, cache_root: Path) -> Path:
    """The release's directory in the cache, extracted (and checked against its digest) if
    it is not there yet. Host replicas sharing the cache extract a release one at a time
    (a lock file), so none replaces a directory another is serving from."""
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
            tmp.mkdir(mode=0o755)
            tmp.chmod(0o755)  # whatever the umask: the sandbox's user reads it
            _extract_files(bundle.bundle, tmp)
            got = digest_of_tree(tmp)
            if got != bundle.digest:
                raise UnsafeBundle(
                    f"release {bundle.id}'s bundle does not match its digest "
                    f"(stored {bundle.digest[:12]}, content {got[:12]})")
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


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedFunction:
    slug: str
    verify_jwt: bool = True
    runtime: DenoFunction | None = None
    load_error: str | None = None  # why it cannot serve (then every request gets a 500)

    @property
    def error(self) -> str | None:
        """Why it cannot serve now (it did not load, or it exited since loading)."""
        if self.load_error is not None:
            return self.load_error
        return self.runtime.exited() if self.runtime is not None else "not started"


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
        """A request starts using the release (it is not stopped under the request)."""
        self.inflight += 1
        self.idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self.idle.set()

    @property
    def errors(self) -> dict[str, str]:
        return {slug: err for slug, f in self.functions.items() if (err := f.error)}

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "commit": self.commit, "digest": self.digest,
                "slugs": sorted(self.functions), "loaded_at": self.loaded_at,
                "errors": self.errors, "error": self.error}


def no_release() -> LoadedRelease:
    return LoadedRelease(id=None, commit=None, digest=None, functions={})


def _describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if not isinstance(
        exc, SandboxUnavailable | DenoNotFound | UnsafeBundle | UnsafeArchive) else str(exc)
    return text if len(text) <= 600 else text[:599] + "…"


def _failed(bundle: ReleaseBundle, error: str) -> LoadedRelease:
    return LoadedRelease(bundle.id, bundle.commit, bundle.digest,
                         {s: LoadedFunction(s, load_error=error) for s in bundle.slugs},
                         error=error)


async def _start_function(fn: EdgeFunction, release_id: int, release_dir: Path,
                          deno_dir: Path, environment: FunctionEnvironment,
                          sandbox: Sandbox) -> LoadedFunction:
    loaded = LoadedFunction(fn.slug, verify_jwt=fn.verify_jwt)
    why = await fetch_dependencies(fn, release_dir, deno_dir, sandbox)
    if why is not None:
        loaded.load_error = f"its modules or dependencies could not be loaded: {why}"
        return loaded
    runtime = DenoFunction(fn, release_id)
    try:
        await runtime.start(release_dir, deno_dir, environment, sandbox)
    except BaseException:
        await runtime.stop()
        raise
    if runtime.error is not None:
        loaded.load_error = runtime.error
        return loaded
    loaded.runtime = runtime
    return loaded


async def load_release(bundle: ReleaseBundle, cache_root: Path,
                       environment: FunctionEnvironment) -> LoadedRelease:
    """Extract, fetch dependencies and start every function. Failures are recorded per
    function, never raised: a release that cannot serve must still replace the old one, so
    the functions step and the smoke tests see its errors."""
    try:
        sandbox = sandbox_from_env()
        release_dir = await asyncio.to_thread(extract_release, bundle, cache_root)
        functions = read_manifest(release_dir).functions
        deno_dir = cache_root / "deno"
        deno_dir.mkdir(parents=True, exist_ok=True)
        hand_over(deno_dir, sandbox)
    except Exception as exc:
        log.error("release %s cannot be served: %s", bundle.id, exc)
        return _failed(bundle, _describe_error(exc))
    started = await asyncio.gather(
        *(_start_function(fn, bundle.id, release_dir, deno_dir, environment, sandbox)
          for fn in functions), return_exceptions=True)
    loaded: dict[str, LoadedFunction] = {}
    for fn, result in zip(functions, started, strict=True):
        if isinstance(result, BaseException):
            log.error("function %s of release %s failed to start: %r", fn.slug, bundle.id,
                      result)
            loaded[fn.slug] = LoadedFunction(fn.slug, fn.verify_jwt,
                                             load_error=_describe_error(result))
        else:
            loaded[fn.slug] = result
            if result.load_error:
                log.warning("function %s of release %s cannot serve: %s", fn.slug,
                            bundle.id, result.load_error)
    return LoadedRelease(bundle.id, bundle.commit, bundle.digest, loaded)


async def unload_release(release: LoadedRelease, *, drain_s: float = 60.0) -> None:
    """Wait for the release's requests in flight, then stop its functions."""
    try:
        await asyncio.wait_for(release.idle.wait(), drain_s)
    except TimeoutError:
        log.warning("release %s still had %d request(s) running after %.0f s; stopping",
                    release.id, release.inflight, drain_s)
    await asyncio.gather(*(f.runtime.stop() for f in release.functions.values()
                           if f.runtime is not None), return_exceptions=True)
