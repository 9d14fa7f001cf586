"""Planning a restore: which entries of the dump come back, given what the cascade of
dropping the project's schemas would take from the platform's (see backups.py)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from service.pgtools import PgTools
from workers.drivers.backup_toc import (
    ALWAYS,
    REPLAYABLE,
    SCHEMA_ATTACHED,
    TocEntry,
    is_project_schema,
    unquote_ident,
)
from workers.drivers.interfaces import BackupError
from workers.drivers.libpq import tool_env
from workers.drivers.tools import last_lines, run_tool

# The connecting role's global default privileges (no IN SCHEMA) back to PostgreSQL's
# built-in ones, before the dump's own are replayed: every grantee revoked, then the owner's
# ALL and PUBLIC's EXECUTE on functions and USAGE on types granted again; an entry equal to
# the built-in default is removed from pg_default_acl by PostgreSQL itself.
RESET_GLOBAL_DEFAULT_PRIVILEGES = """DO $reset$
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
class RestorePlan:
    drop: frozenset[str]  # project schemas that exist now
    restore: frozenset[str]  # project schemas to take from the dump
    recreate_public: bool
    # (kind, schema or None, tag) of platform objects the cascade drops, replayable ones
    replay: frozenset[tuple[str, str | None, str]]
    role: str  # the connecting role: its default privileges and publications are restored
    publications: frozenset[str]  # the connecting role's, now
    drop_publications: frozenset[str]  # of those, the ones the dump lacks


# Objects outside the project's schemas, keyed like the dump's TOC tags; kinds the dump can
# replay use the REPLAYABLE names, others a lower-case word.
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


async def plan_restore(conn: psycopg.AsyncConnection[Any], toc: list[TocEntry],
                lock_timeout_ms: int) -> RestorePlan:
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
               if e.namespace is None and e.desc in SCHEMA_ATTACHED
               and e.tag.startswith("SCHEMA ")}
    dumped |= {e.namespace for e in toc if e.namespace is not None}
    restore = frozenset(s for s in dumped if is_project_schema(s))
    project = sorted(live | restore)

    before = await platform_objects(conn, project)
    if live:
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(s) for s in sorted(live))))
    after = await platform_objects(conn, project)
    await conn.rollback()

    victims = before - after
    lost = sorted(v for v in victims if v[0] not in REPLAYABLE.values())
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
    return RestorePlan(drop=frozenset(live), restore=restore,
                       recreate_public="public" in live or "public" in restore,
                       replay=frozenset(victims), role=role, publications=publications,
                       drop_publications=publications - dumped_publications)


async def platform_objects(conn: psycopg.AsyncConnection[Any], project: list[str]
                            ) -> set[tuple[str, str | None, str]]:
    cur = await conn.execute(_PLATFORM_OBJECTS, {"project": project})
    return {(r[0], r[1], r[2]) for r in await cur.fetchall()}


async def extension_schemas(tools: PgTools, path: Path, toc: list[TocEntry],
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
        raise BackupError(f"pg_restore cannot read {path.name}: {last_lines(out.stderr)}")
    found: dict[str, str] = {}
    ident = r'("(?:[^"]|"")*"|[^\s;]+)'
    for m in re.finditer(rf"CREATE EXTENSION IF NOT EXISTS {ident} WITH SCHEMA {ident};",
                         out.stdout):
        found[unquote_ident(m.group(1))] = unquote_ident(m.group(2))
    return found


def select_entries(toc: list[TocEntry], plan: RestorePlan, ext_schemas: Mapping[str, str]
            ) -> list[TocEntry]:
    """The TOC entries to replay, in the dump's (dependency) order."""
    chosen: list[TocEntry] = []
    for e in toc:
        ns = e.namespace
        if e.desc in ALWAYS:
            keep = True
        elif ns is not None and ns in plan.restore:
            keep = True
        elif ns is None and e.desc == "SCHEMA":
            keep = e.tag in plan.restore
        elif ns is None and e.desc in SCHEMA_ATTACHED and e.tag.startswith("SCHEMA "):
            keep = e.tag[len("SCHEMA "):] in plan.restore
        elif e.desc == "EXTENSION":
            keep = ext_schemas.get(e.tag) in plan.restore
        elif ns is None and e.desc in SCHEMA_ATTACHED and e.tag.startswith("EXTENSION "):
            keep = ext_schemas.get(e.tag[len("EXTENSION "):]) in plan.restore
        elif e.desc == "DEFAULT ACL" and ns is None:
            keep = _toc_owner(e) == plan.role
        elif e.desc == "PUBLICATION" and ns is None:
            keep = _toc_owner(e) == plan.role and e.tag not in plan.publications
        elif e.desc in REPLAYABLE:
            keep = (REPLAYABLE[e.desc], ns, e.tag) in plan.replay
        else:
            keep = False
        if keep:
            chosen.append(e)
    return chosen

def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
