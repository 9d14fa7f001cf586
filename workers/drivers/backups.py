"""Backups as `pg_dump -Fc` files in a local directory, and restoring them.

create(): pg_dump of the server's major version writes `<root>/<label>-<UTC time>.dump`
through a temporary file and a rename, so a dump that exists is a whole one; then
`pg_restore --list` proves it reads back.

restore(): brings the project's schemas back to the dump's state, in one transaction:
every schema that is not a system or platform schema (PLATFORM_SCHEMAS) is dropped and
restored from the dump — schema AND data, so also `supabase_migrations` (the history) and
`deploybot` (the active function release). `public` is dropped too and recreated as initdb
makes it (owner pg_database_owner, USAGE for PUBLIC, the standard comment) before the dump's
own ownership and grants for it are replayed: pg_dump records `public` relative to exactly
that default, so the result is what was dumped.

Platform schemas (auth, storage, ...) belong to the platform and are left alone, with one
exception: objects there that depend on the project's schemas (a trigger on auth.users
calling public.handle_new_user(), a storage policy using a public function, a foreign key to
a public table) would be dropped by the cascade; triggers, policies, constraints, indexes,
rules and event triggers among them are restored from the dump. Limitations, by design:
  * other changes inside platform schemas are not undone (a row added to auth.users, a
    trigger on auth.users whose function lives in auth, a changed grant on an auth object);
  * if the cascade would drop any other kind of platform object (a column, view, function
    or type in a platform schema that uses a project type or table), restore refuses with
    BackupError before changing anything;
  * large objects and database-level settings (ALTER DATABASE, roles) are not restored,
    nor global default privileges and publications of roles other than the connecting one.
The connecting role's own global default privileges (`ALTER DEFAULT PRIVILEGES REVOKE
EXECUTE ON FUNCTIONS FROM PUBLIC`, common in Supabase migrations) are reset to PostgreSQL's
built-in defaults and then replayed from the dump, so they are what was dumped. Its
publications (`create publication supabase_realtime for table ...`) that the dump lacks are
dropped and those it has but the database lacks are created; one in both is kept (Supabase
Realtime reads it), and its tables in the project's schemas come back with them.
Owners and grants are restored as dumped (the roles live in the cluster), which needs a
connecting role that may own those objects (a superuser, or `postgres` on Supabase).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from service.observability.redact import redact_with
from service.pgtools import PgTools, ToolNotFound
from workers.drivers.backup_toc import (
    TocEntry,
    parse_toc,
)
from workers.drivers.interfaces import (
    Backup,
    BackupError,
    BackupStore,
    Database,
    DatabaseUnavailable,
)
from workers.drivers.libpq import conninfo_from_libpq_env, is_unreachable, tool_env
from workers.drivers.restore_plan import (
    RESET_GLOBAL_DEFAULT_PRIVILEGES,
    RestorePlan,
    extension_schemas,
    plan_restore,
    quote_ident,
    select_entries,
)
from workers.drivers.tools import last_lines, run_tool

# --------------------------------------------------------------------------- the store


class LocalBackupStore(BackupStore):
    """Backups in a directory of this machine (kept; nothing deletes them)."""

    def __init__(self, root: Path, *, lock_timeout_ms: int = 60_000) -> None:
        self.root = Path(root)
        # How long restore waits for other sessions' locks before giving up (and changing
        # nothing) rather than hanging.
        self.lock_timeout_ms = lock_timeout_ms

    # ---------------------------------------------------------------- create

    async def create(self, db: Database, label: str) -> Backup:
        tools, version = await _tools_for(db)
        env = db.libpq_env()
        secrets = [env.get("PGPASSWORD", "")]
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = datetime.now(UTC)
        path = self._new_path(label, created)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                        dir=self.root)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            dumped = await run_tool(
                [tools.pg_dump, "--no-password", "--format=custom", f"--file={tmp}"],
                tool_env(env))
            if dumped.returncode != 0:
                why = redact_with(last_lines(dumped.stderr), secrets)
                raise BackupError(
                    f"pg_dump {tools.major} of {db.redacted_url} failed: {why or 'no message'}",
                    unreachable=is_unreachable(dumped.stderr))
            entries = await self._count_entries(tools, tmp, env, path.name)
            size = await asyncio.to_thread(_commit_file, tmp, path)
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        return Backup(location=str(path), size_bytes=size, entries=entries,
                      created_at=created, server_version_num=version)

    def _new_path(self, label: str, at: datetime) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "backup"
        stamp = at.strftime("%Y%m%dT%H%M%SZ")
        path = self.root / f"{safe}-{stamp}.dump"
        n = 1
        while path.exists():  # two backups of one label within a second
            n += 1
            path = self.root / f"{safe}-{stamp}-{n}.dump"
        return path

    async def _count_entries(self, tools: PgTools, path: Path, env: Mapping[str, str],
                             final_name: str) -> int:
        listing = await _list(tools, path, env, final_name)
        entries = len(parse_toc(listing))
        if entries == 0:
            # A brand-new database dumps to an archive with nothing in it, legitimately;
            # a database with objects must not.
            objects = await _count_objects(env)
            if objects:
                raise BackupError(f"the dump {final_name} lists no objects (pg_restore --list) "
                                  f"although the database has {objects}")
        return entries

    # ---------------------------------------------------------------- restore

    async def restore(self, backup: Backup, db: Database) -> None:
        path = Path(backup.location)
        if not await asyncio.to_thread(path.is_file):
            raise BackupError(f"backup file {path} does not exist")
        tools, version = await _tools_for(db)
        if backup.server_version_num // 10000 > version // 10000:
            raise BackupError(
                f"the backup {path.name} comes from PostgreSQL {backup.server_version_num // 10000}"
                f" and cannot be restored into PostgreSQL {version // 10000} ({db.redacted_url})")
        env = db.libpq_env()
        secrets = [env.get("PGPASSWORD", "")]
        toc = parse_toc(await _list(tools, path, env))  # empty: the database was empty

        try:
            async with await psycopg.AsyncConnection.connect(
                    conninfo_from_libpq_env(env), connect_timeout=10) as conn:
                plan = await plan_restore(conn, toc, self.lock_timeout_ms)
        except psycopg.OperationalError as exc:
            why = redact_with(str(exc).strip(), secrets)
            raise BackupError(f"cannot prepare the restore of {db.redacted_url}: {why}",
                              unreachable=is_unreachable(str(exc))) from exc
        except psycopg.Error as exc:
            why = redact_with(str(exc).strip(), secrets)
            raise BackupError(f"cannot prepare the restore of {db.redacted_url}: {why}") from exc

        ext_schemas = await extension_schemas(tools, path, toc, env)
        selected = select_entries(toc, plan, ext_schemas)
        await self._replay(tools, path, db, env, plan, selected, secrets)

    async def _replay(self, tools: PgTools, path: Path, db: Database, env: Mapping[str, str],
                      plan: RestorePlan, selected: list[TocEntry], secrets: list[str]) -> None:
        """Drop the project's schemas and replay the selected entries (the SQL script
        `pg_restore` makes of them) in one psql transaction: any error changes nothing."""
        prelude = [f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)};"]
        if plan.drop:
            names = ", ".join(quote_ident(s) for s in sorted(plan.drop))
            prelude.append(f"DROP SCHEMA {names} CASCADE;")
        prelude.append(RESET_GLOBAL_DEFAULT_PRIVILEGES)
        prelude += [f"DROP PUBLICATION {quote_ident(name)};"
                    for name in sorted(plan.drop_publications)]
        if plan.recreate_public:
            prelude += [
                "CREATE SCHEMA public AUTHORIZATION pg_database_owner;",
                "GRANT USAGE ON SCHEMA public TO PUBLIC;",
                "COMMENT ON SCHEMA public IS 'standard public schema';",
            ]
        # The script is written out in full before psql starts: streamed, a pg_restore that
        # died half-way would hand psql a truncated script that psql would then commit.
        # Beside the backups (0700), not in /tmp: it holds the data, uncompressed.
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=path.parent) as tmpdir:
            listfile = Path(tmpdir) / "restore.list"
            script = Path(tmpdir) / "restore.sql"
            await asyncio.to_thread(listfile.write_text, "".join(e.line + "\n" for e in selected))
            produced = await run_tool(
                [tools.pg_restore, "--no-password", f"--use-list={listfile}", f"--file={script}",
                 str(path)], tool_env(env))
            if produced.returncode != 0:
                why = redact_with(last_lines(produced.stderr), secrets)
                raise BackupError(f"pg_restore {tools.major} cannot read {path.name}: {why}; "
                                  f"{db.redacted_url} was not changed")
            replayed = await run_tool(
                [tools.psql, "--no-password", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                 "--single-transaction", "-c", "\n".join(prelude), "-f", str(script)],
                tool_env(env))
        if replayed.returncode != 0:
            why = redact_with(last_lines(replayed.stderr), secrets)
            raise BackupError(
                f"restoring {path.name} into {db.redacted_url} failed, nothing was changed "
                f"(one transaction): {why or f'psql exited {replayed.returncode}'}",
                unreachable=is_unreachable(replayed.stderr))


# --------------------------------------------------------------------------- small helpers


async def _tools_for(db: Database) -> tuple[PgTools, int]:
    try:
        version = await db.server_version_num()
    except DatabaseUnavailable as exc:
        raise BackupError(f"cannot reach {db.redacted_url}: {exc}", unreachable=True) from exc
    try:
        return db.tools(version), version
    except ToolNotFound as exc:
        raise BackupError(str(exc)) from exc


async def _list(tools: PgTools, path: Path, env: Mapping[str, str], name: str = "") -> str:
    out = await run_tool([tools.pg_restore, "--list", str(path)], tool_env(env))
    if out.returncode != 0:
        raise BackupError(f"the dump {name or path.name} cannot be read by "
                          f"pg_restore {tools.major}: "
                          f"{last_lines(out.stderr) or f'exit {out.returncode}'}")
    return out.stdout


async def _count_objects(env: Mapping[str, str]) -> int:
    """Relations, functions and schemas outside PostgreSQL's own schemas."""
    query = """
        SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_to%%' AND n.nspname NOT LIKE 'pg\\_temp%%')
             + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
             + (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN
                 ('pg_catalog', 'information_schema', 'public')
                 AND nspname NOT LIKE 'pg\\_to%%' AND nspname NOT LIKE 'pg\\_temp%%')
    """
    try:
        async with await psycopg.AsyncConnection.connect(
                conninfo_from_libpq_env(env), connect_timeout=10) as conn:
            cur = await conn.execute(query)
            row = await cur.fetchone()
    except psycopg.Error as exc:
        raise BackupError(f"cannot check the database after an empty dump: "
                          f"{redact_with(str(exc).strip(), [env.get('PGPASSWORD', '')])}") from exc
    return int(row[0]) if row else 0


def _commit_file(tmp: Path, path: Path) -> int:
    """Make the finished dump durable, then give it its name in one step."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path.stat().st_size



