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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.pgtools import PgTools, ToolNotFound
from workers.drivers.interfaces import Backup, BackupStore, Database, DatabaseUnavailable
from workers.drivers.processes import communicate

# Schemas that a Supabase project owns (and our platform shim partly creates), never
# dropped or restored: the project's migrations do not own them.
PLATFORM_SCHEMAS: frozenset[str] = frozenset({
    "auth", "storage", "extensions", "graphql", "graphql_public", "realtime", "_realtime",
    "vault", "pgsodium", "pgsodium_masks", "supabase_functions", "net", "cron", "pgbouncer",
    "_analytics", "_supavisor", "pgmq", "pgtle", "supabase_admin",
})
# PostgreSQL's own schemas (and pg_toast*/pg_temp* prefixes).
SYSTEM_SCHEMAS: frozenset[str] = frozenset({"pg_catalog", "information_schema"})
_SYSTEM_PREFIXES = ("pg_toast", "pg_temp")

# libpq connection keywords and the environment variables that carry them.
_ENV_OF_KEYWORD: dict[str, str] = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
    "options": "PGOPTIONS", "application_name": "PGAPPNAME", "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI",
    "requiressl": "PGREQUIRESSL", "sslcompression": "PGSSLCOMPRESSION",
    "sslcertmode": "PGSSLCERTMODE", "sslnegotiation": "PGSSLNEGOTIATION",
    "connect_timeout": "PGCONNECT_TIMEOUT", "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "service": "PGSERVICE",
    "channel_binding": "PGCHANNELBINDING", "require_auth": "PGREQUIREAUTH",
    "load_balance_hosts": "PGLOADBALANCEHOSTS", "min_protocol_version": "PGMINPROTOCOLVERSION",
    "max_protocol_version": "PGMAXPROTOCOLVERSION",
}
_KEYWORD_OF_ENV = {v: k for k, v in _ENV_OF_KEYWORD.items()}

# What libpq says when the server cannot be reached at all (as opposed to refusing us).
_UNREACHABLE = re.compile(
    r"Connection refused|could not translate host name|timeout expired|No route to host|"
    r"Network is unreachable|server closed the connection unexpectedly|Is the server running|"
    r"the database system is (?:starting up|shutting down|in recovery mode)|"
    r"could not connect to server",
    re.IGNORECASE,
)


class BackupError(Exception):
    """Making, reading or restoring a backup failed. The message says what, without secrets;
    `unreachable` tells that the database could not be reached (a stop-the-line condition)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


# --------------------------------------------------------------------------- libpq helpers


def libpq_env_from_url(url: str) -> dict[str, str]:
    """PG* environment variables for a connection URL or conninfo string (password
    included), for tools that must not get the password on their command line."""
    params = conninfo_to_dict(url)
    return {_ENV_OF_KEYWORD[k]: str(v) for k, v in params.items()
            if k in _ENV_OF_KEYWORD and v is not None}


def conninfo_from_libpq_env(env: Mapping[str, str]) -> str:
    """A conninfo string for psycopg from PG* variables (the inverse of libpq_env_from_url);
    it is handed to libpq in-process, never to a command line."""
    params = {_KEYWORD_OF_ENV[k]: v for k, v in env.items() if k in _KEYWORD_OF_ENV}
    return make_conninfo("", **params)


def tool_env(libpq_env: Mapping[str, str]) -> dict[str, str]:
    """The environment for psql/pg_dump/pg_restore: ours without stray PG* variables (a
    PGSERVICE or PGOPTIONS of the worker must not redirect the tool), plus the connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_env)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove secret values from text meant for people (defence in depth: libpq does not
    echo passwords, but a message must never carry one)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def is_unreachable(message: str) -> bool:
    return bool(_UNREACHABLE.search(message))


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: str
    stderr: str


async def run_tool(argv: Sequence[str], env: Mapping[str, str], *,
                   cwd: Path | None = None) -> ToolResult:
    """Run a PostgreSQL client program and collect its output (text, replacing bad bytes)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=dict(env), cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await communicate(proc)
    assert proc.returncode is not None
    return ToolResult(proc.returncode, out.decode("utf-8", "replace"),
                      err.decode("utf-8", "replace"))


def _last_lines(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


# --------------------------------------------------------------------------- the archive's TOC

# Entry types as pg_restore --list prints them (PostgreSQL 15–18); several have spaces, so
# the longest one that matches wins.
_DESCS = sorted((
    "ACCESS METHOD", "ACL", "AGGREGATE", "BLOB", "BLOB METADATA", "BLOBS", "CAST",
    "CHECK CONSTRAINT", "COLLATION", "COMMENT", "CONSTRAINT", "CONVERSION", "DATABASE",
    "DATABASE PROPERTIES", "DEFAULT", "DEFAULT ACL", "DOMAIN", "ENCODING", "EVENT TRIGGER",
    "EXTENSION", "FK CONSTRAINT", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "FOREIGN TABLE",
    "FUNCTION", "INDEX", "INDEX ATTACH", "LARGE OBJECT", "MATERIALIZED VIEW",
    "MATERIALIZED VIEW DATA", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY", "POLICY",
    "PROCEDURAL LANGUAGE", "PROCEDURE", "PUBLICATION", "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA", "ROW SECURITY", "RULE", "SCHEMA", "SEARCHPATH",
    "SECURITY LABEL", "SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "SERVER", "SHELL TYPE",
    "STATISTICS", "STATISTICS DATA", "STDSTRINGS", "SUBSCRIPTION", "SUBSCRIPTION TABLE",
    "TABLE", "TABLE ATTACH", "TABLE DATA", "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "TRANSFORM",
    "TRIGGER", "TYPE", "USER MAPPING", "VIEW",
), key=len, reverse=True)
_TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
_ALWAYS = frozenset({"ENCODING", "STDSTRINGS", "SEARCHPATH"})
_SCHEMA_ATTACHED = frozenset({"ACL", "COMMENT", "SECURITY LABEL"})
# Platform-schema objects that the cascade may drop and that the dump can put back.
_REPLAYABLE = {"TRIGGER": "TRIGGER", "POLICY": "POLICY", "INDEX": "INDEX", "RULE": "RULE",
               "CONSTRAINT": "CONSTRAINT", "FK CONSTRAINT": "CONSTRAINT",
               "CHECK CONSTRAINT": "CONSTRAINT", "EVENT TRIGGER": "EVENT TRIGGER"}


@dataclass(frozen=True)
class TocEntry:
    line: str
    desc: str
    namespace: str | None  # None where pg_restore prints "-"
    tag: str


def parse_toc(listing: str) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for line in listing.splitlines():
        m = _TOC_LINE.match(line)
        if not m:
            continue
        rest = m.group(4)
        desc = next((d for d in _DESCS if rest.startswith(d + " ")), rest.split(" ", 1)[0])
        after = rest[len(desc) + 1:]
        namespace, _, tag_owner = after.partition(" ")
        tag = tag_owner.rsplit(" ", 1)[0] if " " in tag_owner else tag_owner
        entries.append(TocEntry(line, desc, None if namespace == "-" else namespace, tag))
    return entries


def is_project_schema(name: str) -> bool:
    """A schema the project's migrations own (restored), as opposed to PostgreSQL's or the
    platform's (left alone)."""
    return not (name in SYSTEM_SCHEMAS or name in PLATFORM_SCHEMAS
                or name.startswith(_SYSTEM_PREFIXES))


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
                why = scrub(_last_lines(dumped.stderr), secrets)
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
                plan = await _plan(conn, toc, self.lock_timeout_ms)
        except psycopg.OperationalError as exc:
            why = scrub(str(exc).strip(), secrets)
            raise BackupError(f"cannot prepare the restore of {db.redacted_url}: {why}",
                              unreachable=is_unreachable(str(exc))) from exc
        except psycopg.Error as exc:
            why = scrub(str(exc).strip(), secrets)
            raise BackupError(f"cannot prepare the restore of {db.redacted_url}: {why}") from exc

        ext_schemas = await _extension_schemas(tools, path, toc, env)
        selected = _select(toc, plan, ext_schemas)
        await self._replay(tools, path, db, env, plan, selected, secrets)

    async def _replay(self, tools: PgTools, path: Path, db: Database, env: Mapping[str, str],
                      plan: _Plan, selected: list[TocEntry], secrets: list[str]) -> None:
        """Drop the project's schemas and replay the selected entries (the SQL script
        `pg_restore` makes of them) in one psql transaction: any error changes nothing."""
        prelude = [f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)};"]
        if plan.drop:
            names = ", ".join(_ident(s) for s in sorted(plan.drop))
            prelude.append(f"DROP SCHEMA {names} CASCADE;")
        prelude.append(_RESET_GLOBAL_DEFAULT_PRIVILEGES)
        prelude += [f"DROP PUBLICATION {_ident(name)};" for name in sorted(plan.drop_publications)]
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
                why = scrub(_last_lines(produced.stderr), secrets)
                raise BackupError(f"pg_restore {tools.major} cannot read {path.name}: {why}; "
                                  f"{db.redacted_url} was not changed")
            replayed = await run_tool(
                [tools.psql, "--no-password", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                 "--single-transaction", "-c", "\n".join(prelude), "-f", str(script)],
                tool_env(env))
        if replayed.returncode != 0:
            why = scrub(_last_lines(replayed.stderr), secrets)
            raise BackupError(
                f"restoring {path.name} into {db.redacted_url} failed, nothing was changed "
                f"(one transaction): {why or f'psql exited {replayed.returncode}'}",
                unreachable=is_unreachable(replayed.stderr))


# --------------------------------------------------------------------------- restore planning


# The connecting role's global default privileges (no IN SCHEMA) back to PostgreSQL's
# built-in ones, before the dump's own are replayed: every grantee revoked, then the owner's
# ALL and PUBLIC's EXECUTE on functions and USAGE on types granted again; an entry equal to
# the built-in default is removed from pg_default_acl by PostgreSQL itself.
_RESET_GLOBAL_DEFAULT_PRIVILEGES = """DO $reset$
DECLARE d record; g record; kind text;
BEGIN
  FOR d IN SELECT a.defaclobjtype AS t, a.defaclacl AS acl FROM pg_catalog.pg_default_acl a
            WHERE a.defaclnamespace = 0 AND a.defaclrole = current_user::regrole LOOP
    kind := CASE d.t WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'
      WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS'
      WHEN 'L' THEN 'LARGE OBJECTS' END;
    CONTINUE WHEN kind IS NULL;
    FOR g IN SELECT DISTINCT x.grantee FROM pg_catalog.aclexplode(d.acl) x LOOP
      EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES REVOKE ALL ON %s FROM %s', kind,
        CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(
          (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid = g.grantee)) END);
    END LOOP;
    EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES GRANT ALL ON %s TO %I', kind,
                              current_user);
    IF d.t IN ('f', 'T') THEN
      EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES GRANT %s ON %s TO PUBLIC',
        CASE d.t WHEN 'f' THEN 'EXECUTE' ELSE 'USAGE' END, kind);
    END IF;
  END LOOP;
END
$reset$;"""


def _toc_owner(entry: TocEntry) -> str:
    """The owner pg_restore --list prints last on an entry's line."""
    return entry.line.rsplit(" ", 1)[-1]


@dataclass(frozen=True)
class _Plan:
    drop: frozenset[str]  # project schemas that exist now
    restore: frozenset[str]  # project schemas to take from the dump
    recreate_public: bool
    # (kind, schema or None, tag) of platform objects the cascade drops, replayable ones
    replay: frozenset[tuple[str, str | None, str]]
    role: str  # the connecting role: its default privileges and publications are restored
    publications: frozenset[str]  # the connecting role's, now
    drop_publications: frozenset[str]  # of those, the ones the dump lacks


# Objects outside the project's schemas, keyed like the dump's TOC tags; kinds the dump can
# replay use the _REPLAYABLE names, others a lower-case word.
_PLATFORM_OBJECTS = """
WITH s AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname <> ALL(%(project)s) AND nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%%' AND nspname NOT LIKE 'pg\\_temp%%'
)
SELECT CASE WHEN c.relkind IN ('i', 'I') THEN 'INDEX' ELSE 'relation' END, s.nspname, c.relname
  FROM pg_class c JOIN s ON s.oid = c.relnamespace
UNION ALL
SELECT 'column', s.nspname, c.relname || '.' || a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN s ON s.oid = c.relnamespace
 WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL
SELECT 'function', s.nspname, p.oid::regprocedure::text
  FROM pg_proc p JOIN s ON s.oid = p.pronamespace
UNION ALL
SELECT 'type', s.nspname, t.typname
  FROM pg_type t JOIN s ON s.oid = t.typnamespace
 WHERE t.typtype <> 'b' OR t.typelem = 0
UNION ALL
SELECT 'TRIGGER', s.nspname, c.relname || ' ' || t.tgname
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN s ON s.oid = c.relnamespace
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'POLICY', s.nspname, c.relname || ' ' || p.polname
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN s ON s.oid = c.relnamespace
UNION ALL
SELECT 'CONSTRAINT', s.nspname, c.relname || ' ' || k.conname
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN s ON s.oid = c.relnamespace
UNION ALL
SELECT 'domain constraint', s.nspname, t.typname || ' ' || k.conname
  FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid JOIN s ON s.oid = t.typnamespace
UNION ALL
SELECT 'RULE', s.nspname, c.relname || ' ' || r.rulename
  FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN s ON s.oid = c.relnamespace
 WHERE r.rulename <> '_RETURN'
UNION ALL
SELECT 'EVENT TRIGGER', NULL, evtname FROM pg_event_trigger
"""


async def _plan(conn: psycopg.AsyncConnection[Any], toc: list[TocEntry],
                lock_timeout_ms: int) -> _Plan:
    """Which schemas to drop and restore, and which platform objects the drop would take
    with it (found by dropping in a transaction that is rolled back)."""
    await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(int(lock_timeout_ms)))
    cur = await conn.execute(
        "SELECT n.nspname FROM pg_namespace n WHERE NOT EXISTS ("
        "  SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass"
        "  AND d.objid = n.oid AND d.deptype = 'e')")  # schemas an extension made are its own
    live = {r[0] for r in await cur.fetchall() if is_project_schema(r[0])}
    dumped = {e.tag for e in toc if e.desc == "SCHEMA" and e.namespace is None}
    dumped |= {e.tag[len("SCHEMA "):] for e in toc
               if e.namespace is None and e.desc in _SCHEMA_ATTACHED
               and e.tag.startswith("SCHEMA ")}
    dumped |= {e.namespace for e in toc if e.namespace is not None}
    restore = frozenset(s for s in dumped if is_project_schema(s))
    project = sorted(live | restore)

    before = await _platform_objects(conn, project)
    if live:
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(s) for s in sorted(live))))
    after = await _platform_objects(conn, project)
    await conn.rollback()

    victims = before - after
    lost = sorted(v for v in victims if v[0] not in _REPLAYABLE.values())
    if lost:
        names = ", ".join(f"{kind} {schema}.{name}" for kind, schema, name in lost[:10])
        raise BackupError(
            f"restore would drop objects in platform schemas that depend on the project's "
            f"schemas and that it cannot put back: {names}; nothing was changed — restore "
            f"by hand (see workers/drivers/backups.py)")
    cur = await conn.execute("SELECT current_user")
    row = await cur.fetchone()
    cur = await conn.execute("SELECT pubname FROM pg_catalog.pg_publication "
                             "WHERE pubowner = current_user::regrole")
    publications = frozenset(str(r[0]) for r in await cur.fetchall())
    role = str(row[0]) if row else ""
    dumped_publications = {e.tag for e in toc if e.desc == "PUBLICATION"
                           and e.namespace is None and _toc_owner(e) == role}
    return _Plan(drop=frozenset(live), restore=restore,
                 recreate_public="public" in live or "public" in restore,
                 replay=frozenset(victims), role=role, publications=publications,
                 drop_publications=publications - dumped_publications)


async def _platform_objects(conn: psycopg.AsyncConnection[Any], project: list[str]
                            ) -> set[tuple[str, str | None, str]]:
    cur = await conn.execute(_PLATFORM_OBJECTS, {"project": project})
    return {(r[0], r[1], r[2]) for r in await cur.fetchall()}


async def _extension_schemas(tools: PgTools, path: Path, toc: list[TocEntry],
                             env: Mapping[str, str]) -> dict[str, str]:
    """Extension name → schema, as the dump creates them (the TOC does not say where)."""
    exts = [e for e in toc if e.desc == "EXTENSION"]
    if not exts:
        return {}
    with tempfile.TemporaryDirectory(prefix="deploybot-restore-") as tmpdir:
        listfile = Path(tmpdir) / "extensions.list"
        listfile.write_text("".join(e.line + "\n" for e in exts))
        out = await run_tool([tools.pg_restore, f"--use-list={listfile}", "--file=-",
                              str(path)], tool_env(env))
    if out.returncode != 0:
        raise BackupError(f"pg_restore cannot read {path.name}: {_last_lines(out.stderr)}")
    found: dict[str, str] = {}
    ident = r'("(?:[^"]|"")*"|[^\s;]+)'
    for m in re.finditer(rf"CREATE EXTENSION IF NOT EXISTS {ident} WITH SCHEMA {ident};",
                         out.stdout):
        found[_unquote(m.group(1))] = _unquote(m.group(2))
    return found


def _select(toc: list[TocEntry], plan: _Plan, ext_schemas: Mapping[str, str]
            ) -> list[TocEntry]:
    """The TOC entries to replay, in the dump's (dependency) order."""
    chosen: list[TocEntry] = []
    for e in toc:
        ns = e.namespace
        if e.desc in _ALWAYS:
            keep = True
        elif ns is not None and ns in plan.restore:
            keep = True
        elif ns is None and e.desc == "SCHEMA":
            keep = e.tag in plan.restore
        elif ns is None and e.desc in _SCHEMA_ATTACHED and e.tag.startswith("SCHEMA "):
            keep = e.tag[len("SCHEMA "):] in plan.restore
        elif e.desc == "EXTENSION":
            keep = ext_schemas.get(e.tag) in plan.restore
        elif ns is None and e.desc in _SCHEMA_ATTACHED and e.tag.startswith("EXTENSION "):
            keep = ext_schemas.get(e.tag[len("EXTENSION "):]) in plan.restore
        elif e.desc == "DEFAULT ACL" and ns is None:
            keep = _toc_owner(e) == plan.role
        elif e.desc == "PUBLICATION" and ns is None:
            keep = _toc_owner(e) == plan.role and e.tag not in plan.publications
        elif e.desc in _REPLAYABLE:
            keep = (_REPLAYABLE[e.desc], ns, e.tag) in plan.replay
        else:
            keep = False
        if keep:
            chosen.append(e)
    return chosen


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
                          f"{_last_lines(out.stderr) or f'exit {out.returncode}'}")
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
                          f"{scrub(str(exc).strip(), [env.get('PGPASSWORD', '')])}") from exc
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


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unquote(name: str) -> str:
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name
