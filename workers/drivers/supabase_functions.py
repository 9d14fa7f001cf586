"""Edge-function releases of a hosted Supabase project, deployed through the Management API.

A release is the functions directory at a commit (tar.gz, as for local environments) plus,
per function, what Supabase is told: the deploy metadata (`name`, `entrypoint_path`,
`import_map_path`, `verify_jwt`, from supabase/config.toml) and the files uploaded. Releases
are kept in the environment database's `deploybot` schema, so the previous release's source
is at hand for a rollback: activating a release uploads every function whose source differs
from what the project runs (Supabase bundles server-side), deletes functions the release no
longer has, and reads each function back to record the version that is active.

Unlike a local switch this is not atomic: functions are deployed one after another. A
failure midway leaves the pointer on the running release with the functions it touched
marked unknown, so undo (activating that release again) redeploys or deletes them.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from workers.drivers.functions import (
    FunctionBundleError,
    _connect,
    build_bundle,
    digest_of,
)
from workers.drivers.interfaces import FunctionReleases, Release
from workers.drivers.supabase_api import ManagementApi, SupabaseApiError
from workers.repository.function_files import EdgeFunction, FunctionLayoutError, discover

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS deploybot;
CREATE TABLE IF NOT EXISTS deploybot.hosted_function_releases (
    id bigserial PRIMARY KEY,
    project_ref text NOT NULL,
    commit text NOT NULL,
    slugs text[] NOT NULL,
    functions jsonb NOT NULL,  -- slug -> {metadata, files, digest}
    bundle bytea NOT NULL,
    digest text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS deploybot.hosted_active_function_release (
    project_ref text PRIMARY KEY,
    release_id bigint NULL REFERENCES deploybot.hosted_function_releases (id),
    versions jsonb NOT NULL DEFAULT '{}',  -- slug -> version Supabase reported
    activated_at timestamptz NOT NULL DEFAULT now()
);
"""

_COLUMNS = "r.id, r.commit, r.slugs, r.digest, r.created_at"


def config_toml_for(functions_dir: Path) -> Path | None:
    """supabase/config.toml beside supabase/functions, as the Supabase CLI reads it."""
    path = functions_dir.parent / "config.toml"
    return path if path.is_file() else None


def upload_files(functions_dir: Path, fn: EdgeFunction) -> list[str]:
    """The files sent for `fn` (paths inside the functions directory): its own directory,
    the shared `_*` directories it may import, its entrypoint and import map."""
    root = functions_dir.resolve()
    wanted: set[str] = {fn.entrypoint}
    if fn.import_map:
        wanted.add(fn.import_map)
    dirs = [functions_dir / fn.slug] + [d for d in functions_dir.iterdir()
                                        if d.is_dir() and d.name.startswith("_")]
    for directory in dirs:
        for path in directory.rglob("*"):
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise FunctionBundleError(
                    f"{path.relative_to(functions_dir).as_posix()} is a symbolic link to "
                    "outside the functions directory; copy the file instead")
            if path.is_file():
                wanted.add(path.relative_to(functions_dir).as_posix())
    return sorted(wanted)


def metadata_for(fn: EdgeFunction) -> dict[str, Any]:
    """The `metadata` part of a deploy (FunctionDeployBody.metadata)."""
    meta: dict[str, Any] = {"name": fn.slug, "entrypoint_path": fn.entrypoint,
                            "verify_jwt": fn.verify_jwt}
    import_map = fn.import_map or fn.deno_config  # the CLI sends deno.json as the import map
    if import_map:
        meta["import_map_path"] = import_map
    return meta


def describe(functions_dir: Path) -> dict[str, dict[str, Any]]:
    """slug -> {metadata, files, digest} for the functions in `functions_dir`."""
    try:
        found = discover(functions_dir, config_toml_for(functions_dir))
    except FunctionLayoutError as exc:
        raise FunctionBundleError(str(exc)) from None
    result: dict[str, dict[str, Any]] = {}
    for fn in found.functions:
        files = upload_files(functions_dir, fn)
        meta = metadata_for(fn)
        h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        for name in files:
            h.update(f"\0{name}\0".encode() + hashlib.sha256(
                (functions_dir / name).read_bytes()).digest())
        result[fn.slug] = {"metadata": meta, "files": files, "digest": h.hexdigest()}
    return result


def _pack(functions_dir: Path) -> tuple[dict[str, dict[str, Any]], bytes, str]:
    return describe(functions_dir), build_bundle(functions_dir), digest_of(functions_dir)


def _unpack(bundle: bytes, dest: Path) -> None:
    with gzip.GzipFile(fileobj=io.BytesIO(bundle)) as gz, tarfile.open(fileobj=gz) as tar:
        tar.extractall(dest, filter="data")


def _release(row: dict[str, Any], active_id: int | None) -> Release:
    return Release(id=int(row["id"]), commit=str(row["commit"]),
                   slugs=tuple(row["slugs"] or ()), created_at=row["created_at"],
                   active=row["id"] == active_id, digest=str(row["digest"]))


class SupabaseFunctionReleases(FunctionReleases):
    """FunctionReleases of a hosted Supabase project: source kept in the environment
    database, deployed with the Management API."""

    def __init__(self, api: ManagementApi, db_url: str) -> None:
        self.api = api
        self._db_url = db_url
        self._schema_ready = False
        # What the last activate did, for the step's log: (slug, what happened).
        self.last_changes: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"SupabaseFunctionReleases(project={self.api.ref!r})"

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await _connect(self._db_url)
        try:
            if not self._schema_ready:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext('deploybot.hosted_functions'))")
                    await conn.execute(SCHEMA_SQL)
                self._schema_ready = True
            yield conn
        finally:
            await conn.close()

    async def _pointer(self, conn: psycopg.AsyncConnection[Any]
                       ) -> tuple[int | None, dict[str, int]]:
        cur = await conn.execute(
            "SELECT release_id, versions FROM deploybot.hosted_active_function_release "
            "WHERE project_ref = %s", (self.api.ref,))
        row = await cur.fetchone()
        if row is None:
            return None, {}
        return (int(row[0]) if row[0] is not None else None), dict(row[1] or {})

    async def active(self) -> Release | None:
        async with self._conn() as conn:
            active_id, _ = await self._pointer(conn)
            return await self._get(conn, active_id) if active_id is not None else None

    async def get(self, release_id: int) -> Release | None:
        async with self._conn() as conn:
            return await self._get(conn, release_id)

    async def _get(self, conn: psycopg.AsyncConnection[Any], release_id: int) -> Release | None:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_COLUMNS} FROM deploybot.hosted_function_releases r "
            "WHERE r.id = %s AND r.project_ref = %s", (release_id, self.api.ref))
        row = await cur.fetchone()
        if row is None:
            return None
        active_id, _ = await self._pointer(conn)
        return _release(row, active_id)

    async def publish(self, functions_dir: Path, commit: str) -> Release:
        functions, bundle, digest = await asyncio.to_thread(_pack, functions_dir)
        async with self._conn() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO deploybot.hosted_function_releases AS r "
                "(project_ref, commit, slugs, functions, bundle, digest) "
                f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (self.api.ref, commit, sorted(functions), Jsonb(functions), bundle, digest))
            row = await cur.fetchone()
            assert row is not None
            return _release(row, None)

    async def _stored(self, conn: psycopg.AsyncConnection[Any], release_id: int
                      ) -> tuple[dict[str, dict[str, Any]], bytes]:
        cur = await conn.execute(
            "SELECT functions, bundle FROM deploybot.hosted_function_releases "
            "WHERE id = %s AND project_ref = %s", (release_id, self.api.ref))
        row = await cur.fetchone()
        if row is None:
            raise LookupError(f"there is no function release {release_id} for project "
                              f"{self.api.ref}")
        return dict(row[0]), bytes(row[1])

    async def activate(self, release_id: int | None) -> None:
        self.last_changes = []
        async with self._conn() as conn:
            current_id, versions = await self._pointer(conn)
            current: dict[str, dict[str, Any]] = (
                (await self._stored(conn, current_id))[0] if current_id is not None else {})
            target: dict[str, dict[str, Any]] = {}
            new_versions: dict[str, int] = {}
            try:
                if release_id is not None:
                    target, bundle = await self._stored(conn, release_id)
                    with tempfile.TemporaryDirectory(prefix="deploybot-fn-") as tmp:
                        await asyncio.to_thread(_unpack, bundle, Path(tmp))
                        for slug in sorted(target):
                            new_versions[slug] = await self._deploy_if_changed(
                                Path(tmp), slug, target[slug], current.get(slug),
                                versions.get(slug))
                # Functions of the running release, and any a failed switch left behind.
                for slug in sorted((set(current) | set(versions)) - set(target)):
                    await self.api.delete_function(slug)
                    self.last_changes.append((slug, "deleted"))
            except BaseException:
                # The pointer stays on the running release; what this switch touched is
                # marked unknown (-1), so the next activate (undo) redeploys or deletes it.
                touched = {slug: -1 for slug, what in self.last_changes
                           if what.startswith("deployed")}
                await self._set_pointer(conn, current_id, {**versions, **touched})
                raise
            await self._set_pointer(conn, release_id, new_versions)

    async def _set_pointer(self, conn: psycopg.AsyncConnection[Any], release_id: int | None,
                           versions: dict[str, int]) -> None:
        await conn.execute(
            "INSERT INTO deploybot.hosted_active_function_release "
            "(project_ref, release_id, versions) VALUES (%s, %s, %s) "
            "ON CONFLICT (project_ref) DO UPDATE SET release_id = excluded.release_id, "
            "versions = excluded.versions, activated_at = now()",
            (self.api.ref, release_id, Jsonb(versions)))

    async def _deploy_if_changed(self, root: Path, slug: str, wanted: dict[str, Any],
                                 running: dict[str, Any] | None,
                                 running_version: int | None) -> int:
        """Deploy `slug` unless the project already runs exactly this source; the version
        Supabase reports as active."""
        if running is not None and running["digest"] == wanted["digest"]:
            remote = await self.api.get_function(slug)
            if remote is not None and remote.get("status") == "ACTIVE" and (
                    running_version is None or remote.get("version") == running_version):
                self.last_changes.append((slug, f"unchanged (version {remote['version']})"))
                return int(remote["version"])
        files = [(name, (root / name).read_bytes()) for name in wanted["files"]]
        deployed = await self.api.deploy_function(slug, wanted["metadata"], files)
        remote = await self.api.get_function(slug)
        if remote is None or remote.get("version") != deployed["version"] or (
                remote.get("status") != "ACTIVE"):
            seen = "missing" if remote is None else (
                f"version {remote.get('version')}, {remote.get('status')}")
            raise SupabaseApiError(
                f"function {slug!r} was deployed as version {deployed['version']} but the "
                f"project reports it {seen}; deploy again, or check the function's logs in "
                "the Supabase dashboard")
        self.last_changes.append((slug, f"deployed version {deployed['version']}"))
        return int(deployed["version"])
