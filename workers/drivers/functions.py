"""Edge-function releases kept in the environment's own database.

A release is a tar.gz of the functions directory at a commit (with a manifest of its
functions and their config.toml settings), stored in
`deploybot.function_releases`; `deploybot.active_function_release` points at the one
every function host serves. Activating a release moves the pointer and NOTIFYs in one
transaction, so hosts switch the moment it commits and never see a half-made switch.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from service.retrying import retry_context
from workers.drivers.interfaces import DatabaseUnavailable, FunctionReleases, Release
from workers.repository.function_files import (
    EdgeFunction,
    FunctionLayoutError,
    FunctionSet,
    config_toml_path,
    discover,
)

CHANNEL = "deploybot_function_release"
# A bundle travels in one bytea value; functions are code, not assets.
MAX_BUNDLE_BYTES = 50 * 1024 * 1024
_SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# Written by publish into every release: the functions and their settings (entrypoint,
# import map, verify_jwt), so a host needs nothing but the release.
MANIFEST = ".deploybot-functions.json"

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS deploybot;
CREATE TABLE IF NOT EXISTS deploybot.function_releases (
    id bigserial PRIMARY KEY,
    commit text NOT NULL,
    slugs text[] NOT NULL,
    bundle bytea NOT NULL,
    digest text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS deploybot.active_function_release (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    release_id bigint NULL REFERENCES deploybot.function_releases (id),
    activated_at timestamptz NOT NULL DEFAULT now()
);
"""

_RELEASE_COLUMNS = "r.id, r.commit, r.slugs, r.digest, r.created_at"


class FunctionBundleError(ValueError):
    """The functions directory cannot be made into a release (the message says why)."""


@dataclass(frozen=True)
class ReleaseBundle:
    """What a function host needs to serve a release."""

    id: int
    commit: str
    slugs: tuple[str, ...]
    digest: str
    bundle: bytes


# --------------------------------------------------------------------------- content


def _bundled_files(functions_dir: Path) -> list[tuple[str, Path]]:
    """(path inside the bundle, file) for every file of the functions directory a release
    carries, sorted by that path."""
    if not functions_dir.is_dir():
        return []
    root = functions_dir.resolve()
    files: list[tuple[str, Path]] = []
    for path in functions_dir.rglob("*"):
        rel = path.relative_to(functions_dir)
        if any(part in _SKIPPED_DIRS for part in rel.parts) or path.name.endswith(
            _SKIPPED_SUFFIXES
        ) or rel.as_posix() == MANIFEST:
            continue
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                raise FunctionBundleError(
                    f"{rel.as_posix()} is a symbolic link to outside the functions directory; "
                    "a release can only hold files inside it (copy the file instead)"
                )
        if path.is_file():
            files.append((rel.as_posix(), path))
    return sorted(files)


def manifest_of(functions: FunctionSet) -> bytes:
    """The release's description of its functions (what the host serves, and how)."""
    return json.dumps({"functions": [asdict(f) for f in functions.functions]},
                      sort_keys=True, indent=1).encode()


def read_manifest(release_dir: Path) -> FunctionSet:
    """The functions an extracted release declares."""
    data = json.loads((release_dir / MANIFEST).read_text(encoding="utf-8"))
    return FunctionSet(tuple(EdgeFunction(**f) for f in data["functions"]))


def _entries(functions_dir: Path, functions: FunctionSet | None) -> list[tuple[str, bytes, int]]:
    """(name, content, mode) of everything a release of `functions_dir` holds: its files
    and the manifest. `functions` None: the layout is broken (publish refuses it); the
    digest still depends on the files."""
    entries = [(name, path.read_bytes(), 0o755 if path.stat().st_mode & 0o111 else 0o644)
               for name, path in _bundled_files(functions_dir)]
    if functions is not None:
        entries.append((MANIFEST, manifest_of(functions), 0o644))
    return sorted(entries)


def _digest(entries: list[tuple[str, bytes]]) -> str:
    outer = hashlib.sha256()
    for name, content in sorted(entries):
        outer.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return outer.hexdigest()


def _discover(functions_dir: Path) -> FunctionSet:
    return discover(functions_dir, config_toml_path(functions_dir))


def _publishable(functions_dir: Path) -> FunctionSet:
    try:
        return _discover(functions_dir)
    except FunctionLayoutError as exc:
        raise FunctionBundleError(str(exc)) from None


def digest_of(functions_dir: Path) -> str:
    """sha256 of the content a release of `functions_dir` would hold (paths and bytes, and
    the functions' settings from config.toml), so an unchanged functions directory is
    recognised whatever the tar/gzip metadata."""
    try:
        functions: FunctionSet | None = _discover(functions_dir)
    except FunctionLayoutError:
        functions = None
    return _digest([(n, c) for n, c, _ in _entries(functions_dir, functions)])


def digest_of_tree(directory: Path) -> str:
    """The same digest over an extracted release (every regular file in it)."""
    return _digest([(p.relative_to(directory).as_posix(), p.read_bytes())
                    for p in directory.rglob("*") if p.is_file() and not p.is_symlink()])


def build_bundle(functions_dir: Path, functions: FunctionSet | None = None) -> bytes:
    """A reproducible tar.gz of the functions directory and its manifest (no caches, fixed
    metadata). FunctionBundleError when the directory holds no valid function layout."""
    if functions is None:
        functions = _publishable(functions_dir)
    buffer = io.BytesIO()
    # mtime=0 in the gzip header too, so the same content gives the same bytes.
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in _entries(functions_dir, functions):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    bundle = buffer.getvalue()
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise FunctionBundleError(
            f"the functions directory compresses to {len(bundle) // (1024 * 1024)} MB, more than "
            f"the {MAX_BUNDLE_BYTES // (1024 * 1024)} MB a release may hold; keep large assets "
            "out of it"
        )
    return bundle


# --------------------------------------------------------------------------- storage


async def _connect(db_url: str, *, attempts: int = 3) -> psycopg.AsyncConnection[Any]:
    """Connect with a few retries; the error names no secret (psycopg's never holds the
    password)."""
    try:
        async for attempt in retry_context(psycopg.OperationalError, attempts=attempts,
                                           first=0.5, cap=2.0):
            with attempt:
                return await psycopg.AsyncConnection.connect(
                    db_url, connect_timeout=10, autocommit=True
                )
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach the environment database for function releases after "
            f"{attempts} attempts: {str(exc).strip().splitlines()[0]}"
        ) from None
    raise AssertionError("unreachable")


async def ensure_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the release tables if missing; serialised, because CREATE ... IF NOT EXISTS
    races with itself (two processes both see "missing")."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('deploybot.function_releases'))")
        await conn.execute(SCHEMA_SQL)


async def _tables_exist(conn: psycopg.AsyncConnection[Any]) -> bool:
    cur = await conn.execute(
        "SELECT to_regclass('deploybot.active_function_release') IS NOT NULL"
    )
    row = await cur.fetchone()
    return bool(row and row[0])


def _release(row: dict[str, Any], active_id: int | None) -> Release:
    return Release(
        id=int(row["id"]),
        commit=str(row["commit"]),
        slugs=tuple(row["slugs"] or ()),
        created_at=row["created_at"],
        active=row["id"] == active_id,
        digest=str(row["digest"]),
    )


class PostgresFunctionReleases(FunctionReleases):
    """FunctionReleases in the environment database's `deploybot` schema."""

    def __init__(self, db_url: str) -> None:
        self._db_url = db_url
        self._schema_ready = False

    def __repr__(self) -> str:  # the URL may hold a password
        return "PostgresFunctionReleases(<environment database>)"

    @asynccontextmanager
    async def _conn(self, *, create_schema: bool) -> AsyncIterator[
            psycopg.AsyncConnection[Any] | None]:
        """A connection; None when the tables don't exist and may not be created (reads
        leave a database that never had a release untouched)."""
        conn = await _connect(self._db_url)
        try:
            if create_schema and not self._schema_ready:
                await ensure_schema(conn)
                self._schema_ready = True
            elif not create_schema and not self._schema_ready:
                if not await _tables_exist(conn):
                    yield None
                    return
            yield conn
        finally:
            await conn.close()

    async def active(self) -> Release | None:
        async with self._conn(create_schema=False) as conn:
            if conn is None:
                return None
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_RELEASE_COLUMNS} FROM deploybot.active_function_release a "
                "JOIN deploybot.function_releases r ON r.id = a.release_id"
            )
            row = await cur.fetchone()
            return _release(row, row["id"]) if row else None

    async def get(self, release_id: int) -> Release | None:
        async with self._conn(create_schema=False) as conn:
            if conn is None:
                return None
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_RELEASE_COLUMNS}, (SELECT release_id FROM "
                "deploybot.active_function_release) AS active_id "
                "FROM deploybot.function_releases r WHERE r.id = %s",
                (release_id,),
            )
            row = await cur.fetchone()
            return _release(row, row["active_id"]) if row else None

    async def publish(self, functions_dir: Path, commit: str) -> Release:
        slugs, bundle, digest = await asyncio.to_thread(_pack, functions_dir)
        async with self._conn(create_schema=True) as conn:
            assert conn is not None
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO deploybot.function_releases AS r (commit, slugs, bundle, digest) "
                f"VALUES (%s, %s, %s, %s) RETURNING {_RELEASE_COLUMNS}",
                (commit, slugs, bundle, digest),
            )
            row = await cur.fetchone()
            assert row is not None
            return _release(row, None)

    async def activate(self, release_id: int | None) -> None:
        async with self._conn(create_schema=True) as conn:
            assert conn is not None
            async with conn.transaction():
                if release_id is not None:
                    cur = await conn.execute(
                        "SELECT 1 FROM deploybot.function_releases WHERE id = %s", (release_id,)
                    )
                    if await cur.fetchone() is None:
                        raise LookupError(f"there is no function release {release_id}")
                await conn.execute(
                    "INSERT INTO deploybot.active_function_release (singleton, release_id) "
                    "VALUES (true, %s) ON CONFLICT (singleton) DO UPDATE "
                    "SET release_id = excluded.release_id, activated_at = now()",
                    (release_id,),
                )
                # Delivered at commit, together with the new pointer.
                await conn.execute(
                    "SELECT pg_notify(%s, %s)",
                    (CHANNEL, "none" if release_id is None else str(release_id)),
                )

    async def bundle(self, release_id: int) -> ReleaseBundle | None:
        """The stored release with its tar.gz (what a function host extracts)."""
        async with self._conn(create_schema=False) as conn:
            if conn is None:
                return None
            return await fetch_bundle(conn, release_id)

    async def history(self, limit: int = 20) -> list[Release]:
        """The latest releases, newest first."""
        async with self._conn(create_schema=False) as conn:
            if conn is None:
                return []
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_RELEASE_COLUMNS}, (SELECT release_id FROM "
                "deploybot.active_function_release) AS active_id "
                "FROM deploybot.function_releases r ORDER BY r.id DESC LIMIT %s",
                (limit,),
            )
            return [_release(row, row["active_id"]) for row in await cur.fetchall()]


def _pack(functions_dir: Path) -> tuple[list[str], bytes, str]:
    functions = _publishable(functions_dir)
    return list(functions.slugs), build_bundle(functions_dir, functions), digest_of(functions_dir)


async def fetch_active_pointer(
    conn: psycopg.AsyncConnection[Any],
) -> tuple[int | None, datetime | None]:
    """(active release id, activated_at); (None, None) when nothing was ever activated."""
    if not await _tables_exist(conn):
        return None, None
    cur = await conn.execute(
        "SELECT release_id, activated_at FROM deploybot.active_function_release"
    )
    row = await cur.fetchone()
    return (int(row[0]) if row and row[0] is not None else None, row[1] if row else None)


async def fetch_bundle(
    conn: psycopg.AsyncConnection[Any], release_id: int
) -> ReleaseBundle | None:
    cur = await conn.execute(
        "SELECT id, commit, slugs, digest, bundle FROM deploybot.function_releases WHERE id = %s",
        (release_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return ReleaseBundle(
        id=int(row[0]), commit=str(row[1]), slugs=tuple(row[2] or ()), digest=str(row[3]),
        bundle=bytes(row[4]),
    )


async def active_if_unchanged(releases: FunctionReleases, functions_dir: Path) -> Release | None:
    """The active release when it already holds exactly the content of `functions_dir`
    (then there is nothing to deploy), else None."""
    active = await releases.active()
    if active is None or not active.digest:
        return None
    return active if active.digest == await asyncio.to_thread(digest_of, functions_dir) else None
