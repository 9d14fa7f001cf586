"""A fingerprint of an environment, taken before a deployment and compared after its undo:
"as it was before" is said only when they match (issue 13: checked, not claimed).

It holds what a deployment changes and an undo must put back: the schema (each object of
`pg_dump --schema-only`, hashed), the Supabase migration history, the row counts of the
tables the deployment's SQL names (its pending migrations, their rollback scripts, the
smoke file; counting every table of a production database would be slow, and rows other
users write meanwhile are not the deployment's), the active function release, and the
settings of roles (`ALTER ROLE … SET`) for this database and for every database — which a
migration can change and no undo puts back, so an undo after one is never "as before".
deploybot's own release store and the history table's DDL are left out of the schema: the
release store keeps every release by design, and the history is compared row by row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.observability.redact import redact_with
from workers.drivers.interfaces import Database, FunctionReleases
from workers.drivers.libpq import tool_env
from workers.drivers.tools import run_tool
from workers.runbook.snapshot import VOLATILE_LINE

# Schemas whose contents are compared otherwise (see the module's docstring).
_NOT_SCHEMA = ("deploybot", "supabase_migrations")
_SYSTEM = ("pg_catalog", "information_schema", *_NOT_SCHEMA)
_OBJECT = re.compile(r"^-- (?:Data for )?Name: (.*?)(?:; Owner: .*)?$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


# Role settings that apply here: this database's and every database's (ALTER ROLE … SET).
_ROLE_SETTINGS = """
SELECT coalesce(r.rolname, 'every role') || ' in '
       || CASE WHEN s.setdatabase = 0 THEN 'every database' ELSE 'this database' END
       || ': ' || array_to_string(s.setconfig, ', ') AS setting
  FROM pg_catalog.pg_db_role_setting s
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
 WHERE s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database
                             WHERE datname = current_database()))
 ORDER BY 1"""


class FingerprintError(Exception):
    """The fingerprint could not be taken (the message says why, without secrets)."""


@dataclass(frozen=True)
class Fingerprint:
    schema: dict[str, str] = field(default_factory=dict)  # object → hash of its DDL
    history: tuple[str, ...] = ()  # history rows as JSON, in version order
    row_counts: dict[str, int] = field(default_factory=dict)  # "schema.table" → rows; -1 gone
    active_release: int | None = None
    # "role in this database: setting, …" ("every role", "every database" where unset)
    role_settings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "history": list(self.history),
                "row_counts": self.row_counts, "active_release": self.active_release,
                "role_settings": list(self.role_settings)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(dict(data.get("schema") or {}), tuple(data.get("history") or ()),
                   {k: int(v) for k, v in (data.get("row_counts") or {}).items()},
                   data.get("active_release"), tuple(data.get("role_settings") or ()))

    def summary(self) -> str:
        tables = ", ".join(sorted(self.row_counts)) or "none"
        return (f"{len(self.schema)} schema objects, {len(self.history)} migration history "
                f"rows, row counts of the tables the deployment names ({tables}), active "
                f"function release {self.active_release or 'none'}")


async def take(db: Database, functions: FunctionReleases, *,
               sql_texts: Iterable[str] = (), tables: Collection[str] | None = None
               ) -> Fingerprint:
    """The environment now. Row counts of `tables` when given (the same tables as an earlier
    fingerprint), else of every table whose name one of `sql_texts` mentions."""
    try:
        version = await db.server_version_num()
        history = await _history(db)
        if tables is None:
            tables = await _named_tables(db, sql_texts)
        counts = {t: await _count(db, t) for t in sorted(tables)}
        settings = tuple(str(r["setting"]) for r in await db.fetch(_ROLE_SETTINGS))
    except Exception as exc:
        raise FingerprintError(f"cannot read the database: {exc}") from exc
    active = await functions.active()
    return Fingerprint(await _schema(db, version), history, counts,
                       active.id if active else None, settings)


def differences(before: Fingerprint, after: Fingerprint) -> list[str]:
    """What is not as it was, one line per part; empty when the fingerprints match."""
    out: list[str] = []
    objects = sorted(before.schema.keys() | after.schema.keys())
    changed = [(o, "only after" if o not in before.schema else "only before"
                if o not in after.schema else "changed")
               for o in objects if before.schema.get(o) != after.schema.get(o)]
    if changed:
        shown = "; ".join(f"{o} ({how})" for o, how in changed[:10])
        more = f"; and {len(changed) - 10} more" if len(changed) > 10 else ""
        out.append(f"schema: {shown}{more}")
    if before.history != after.history:
        gone = [_version(h) for h in before.history if h not in after.history]
        new = [_version(h) for h in after.history if h not in before.history]
        out.append("migration history: " + ("; ".join(
            [*(f"{v} no longer recorded" for v in gone), *(f"{v} recorded" for v in new)])
            or "rows changed"))
    for table in sorted(before.row_counts.keys() | after.row_counts.keys()):
        a, b = before.row_counts.get(table, -1), after.row_counts.get(table, -1)
        if a != b:
            out.append(f"rows of {table}: {_rows(a)} before, {_rows(b)} after")
    if before.active_release != after.active_release:
        out.append(f"active function release: {before.active_release or 'none'} before, "
                   f"{after.active_release or 'none'} after")
    if before.role_settings != after.role_settings:
        gone = [s for s in before.role_settings if s not in after.role_settings]
        new = [s for s in after.role_settings if s not in before.role_settings]
        out.append("role settings: " + "; ".join(
            [*(f"{s} (only before)" for s in gone), *(f"{s} (only after)" for s in new)]))
    return out


async def _schema(db: Database, version: int) -> dict[str, str]:
    env = db.libpq_env()
    tools = db.tools(version)
    argv = [tools.pg_dump, "--no-password", "--schema-only",
            *(f"--exclude-schema={s}" for s in _NOT_SCHEMA)]
    dumped = await run_tool(argv, tool_env(env))
    if dumped.returncode != 0:
        raise FingerprintError(f"pg_dump {tools.major} --schema-only failed: "
                               f"{redact_with(dumped.stderr.strip(), [env.get('PGPASSWORD', '')])}")
    blocks: dict[str, list[str]] = {"(preamble)": []}
    current = "(preamble)"
    for line in dumped.stdout.splitlines():
        if VOLATILE_LINE.match(line) or not line.strip():
            continue
        if (found := _OBJECT.match(line)) is not None:
            current = found.group(1)
            while current in blocks:  # same name and type twice: keep both
                current += " (again)"
            blocks[current] = []
        elif not line.startswith("--"):
            blocks[current].append(line)
    # An ACL is a set: revoking and granting again moves an entry without changing it.
    return {name: hashlib.sha256("\n".join(
        sorted(lines) if "Type: ACL" in name else lines).encode()).hexdigest()[:20]
        for name, lines in blocks.items()}


async def _history(db: Database) -> tuple[str, ...]:
    rows = await db.fetch("SELECT to_regclass('supabase_migrations.schema_migrations') "
                          "IS NOT NULL AS present")
    if not rows or not rows[0]["present"]:
        return ()
    rows = await db.fetch("SELECT to_jsonb(m)::text AS row FROM "
                          "supabase_migrations.schema_migrations m ORDER BY version")
    return tuple(str(r["row"]) for r in rows)


async def _named_tables(db: Database, sql_texts: Iterable[str]) -> set[str]:
    words = {w.lower() for text in sql_texts for w in _WORD.findall(text)}
    rows = await db.fetch(
        "SELECT n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT (n.nspname = ANY(%(system)s)) "
        "AND n.nspname NOT LIKE 'pg\\_%%'", {"system": list(_SYSTEM)})
    return {f"{r['schema']}.{r['name']}" for r in rows if r["name"].lower() in words}


async def _count(db: Database, table: str) -> int:
    schema, _, name = table.partition(".")
    rows = await db.fetch("SELECT to_regclass(%(t)s) IS NOT NULL AS present",
                          {"t": f"{_quote(schema)}.{_quote(name)}"})
    if not rows or not rows[0]["present"]:
        return -1
    rows = await db.fetch(f"SELECT count(*) AS n FROM {_quote(schema)}.{_quote(name)}")
    return int(rows[0]["n"])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _version(row: str) -> str:
    found = re.search(r'"version": "([^"]*)"', row)
    return found.group(1) if found else row[:40]


def _rows(n: int) -> str:
    return "no table" if n < 0 else f"{n} row{'s' if n != 1 else ''}"
