"""The observable state of an environment's database, to compare before and after.

A snapshot holds the schema (pg_dump --schema-only of the server's major version, with the
lines that change from dump to dump removed), every table's row count and content checksum,
the Supabase migration history and the active function release. Two snapshots that `diff`
to nothing mean "the environment is exactly as it was" — what a rollback must achieve.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from service.observability.redact import redact_with
from service.pgtools import for_server
from workers.drivers.libpq import libpq_env_from_url, tool_env
from workers.drivers.tools import run_tool

# Lines that differ between two dumps of the same database: versions and the random key of
# psql's \restrict guard (PostgreSQL 18, and 13–17 since their 2025 minor releases).
VOLATILE_LINE = re.compile(r"^(?:-- Dumped (?:from database|by pg_dump) version|"
                       r"\\restrict |\\unrestrict |-- Started on|-- Completed on)")
_MAX_SCHEMA_DIFF_LINES = 60
# deploybot's function-release store keeps every published release by design (a rolled-back
# release stays for inspection, and activation stamps a time): what an environment runs is
# the active release, which `diff` compares on its own.
_RELEASE_STORE = "deploybot."


class SnapshotError(Exception):
    """The snapshot could not be taken (the message says why, without secrets)."""


@dataclass(frozen=True)
class TableState:
    rows: int
    checksum: str  # md5 of the rows' text, ordered


@dataclass(frozen=True)
class EnvironmentSnapshot:
    server_version_num: int
    schema: str
    tables: dict[str, TableState] = field(default_factory=dict)  # "schema.table" → state
    history: tuple[str, ...] = ()  # supabase_migrations.schema_migrations rows as JSON
    active_release: int | None = None
    sequences: dict[str, str] = field(default_factory=dict)  # "schema.seq" → "last,called"


async def snapshot(db_url: str) -> EnvironmentSnapshot:
    env = libpq_env_from_url(db_url)
    secrets = [env.get("PGPASSWORD", "")]
    try:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            # Row level security must not hide rows from the count: fail instead.
            await conn.execute("SET row_security = off")
            version = await _scalar_int(conn, "SELECT current_setting('server_version_num')")
            tables = await _tables(conn)
            history = await _history(conn)
            release = await _active_release(conn)
            sequences = await _sequences(conn)
    except psycopg.Error as exc:
        raise SnapshotError(f"cannot read the database: {redact_with(str(exc), secrets)}") from exc

    tools = for_server(version)
    dumped = await run_tool([tools.pg_dump, "--no-password", "--schema-only"], tool_env(env))
    if dumped.returncode != 0:
        raise SnapshotError(f"pg_dump {tools.major} --schema-only failed: "
                            f"{redact_with(dumped.stderr.strip(), secrets)}")
    schema = "\n".join(ln for ln in dumped.stdout.splitlines() if not VOLATILE_LINE.match(ln))
    return EnvironmentSnapshot(version, schema, tables, history, release, sequences)


def diff(a: EnvironmentSnapshot, b: EnvironmentSnapshot, *, sequences: bool = True
         ) -> list[str]:
    """What changed from `a` (before) to `b` (after), one line or block per difference.
    `sequences=False` ignores sequence positions, which no transaction rolls back (a smoke
    test that inserts and deletes a row still advances one)."""
    out: list[str] = []
    if a.schema != b.schema:
        lines = list(difflib.unified_diff(a.schema.splitlines(), b.schema.splitlines(),
                                          "before", "after", n=1, lineterm=""))
        more = len(lines) - _MAX_SCHEMA_DIFF_LINES
        shown = lines[:_MAX_SCHEMA_DIFF_LINES] + ([f"... {more} more lines"] if more > 0 else [])
        out.append("schema differs:\n" + "\n".join(shown))
    for name in sorted(a.tables.keys() | b.tables.keys()):
        if name.startswith(_RELEASE_STORE):
            continue  # compared as active_release below
        before, after = a.tables.get(name), b.tables.get(name)
        if before is None:
            out.append(f"table {name}: only after ({after.rows if after else 0} rows)")
        elif after is None:
            out.append(f"table {name}: only before ({before.rows} rows)")
        elif before.rows != after.rows:
            out.append(f"table {name}: {before.rows} rows before, {after.rows} after")
        elif before.checksum != after.checksum:
            out.append(f"table {name}: contents differ ({before.rows} rows)")
    if a.history != b.history:
        gone = [h for h in a.history if h not in b.history]
        new = [h for h in b.history if h not in a.history]
        detail = "; ".join([*(f"only before: {h}" for h in gone),
                            *(f"only after: {h}" for h in new)]) or "order differs"
        out.append(f"migration history differs: {detail}")
    if a.active_release != b.active_release:
        out.append(f"active function release: {a.active_release} before, "
                   f"{b.active_release} after")
    if sequences:
        for name in sorted(a.sequences.keys() | b.sequences.keys()):
            if name.startswith(_RELEASE_STORE):
                continue
            if a.sequences.get(name) != b.sequences.get(name):
                out.append(f"sequence {name}: {a.sequences.get(name)} before, "
                           f"{b.sequences.get(name)} after")
    return out


async def _scalar_int(conn: psycopg.AsyncConnection[Any], query: str) -> int:
    cur = await conn.execute(query)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _tables(conn: psycopg.AsyncConnection[Any]) -> dict[str, TableState]:
    cur = await conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
        "ORDER BY 1, 2")
    names = [(r[0], r[1]) for r in await cur.fetchall()]
    states: dict[str, TableState] = {}
    for schema, table in names:
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
            " FROM {}.{} t").format(sql.Identifier(schema), sql.Identifier(table))
        cur = await conn.execute(query)
        row = await cur.fetchone()
        assert row is not None
        states[f"{schema}.{table}"] = TableState(int(row[0]), str(row[1]))
    return states


async def _history(conn: psycopg.AsyncConnection[Any]) -> tuple[str, ...]:
    cur = await conn.execute(
        "SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return ()
    cur = await conn.execute("SELECT to_jsonb(m)::text FROM supabase_migrations.schema_migrations"
                             " m ORDER BY version")
    return tuple(str(r[0]) for r in await cur.fetchall())


async def _active_release(conn: psycopg.AsyncConnection[Any]) -> int | None:
    cur = await conn.execute("SELECT to_regclass('deploybot.active_function_release') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return None
    cur = await conn.execute("SELECT release_id FROM deploybot.active_function_release")
    row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else None


async def _sequences(conn: psycopg.AsyncConnection[Any]) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relkind = 'S' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
        "ORDER BY 1, 2")
    names = [(r[0], r[1]) for r in await cur.fetchall()]
    found: dict[str, str] = {}
    for schema, seq in names:
        cur = await conn.execute(sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(seq)))
        row = await cur.fetchone()
        assert row is not None
        found[f"{schema}.{seq}"] = f"{row[0]},{'called' if row[1] else 'not called'}"
    return found
