"""Backend test helpers: migration files, applying SQL, schema snapshots, the RLS suite.

Imported by the test modules beside it as `tests.backend.backend_sql` (the repository root is
on pytest's pythonpath). Migrations are applied simply with psycopg, one transaction per file;
the deploy bot's real migrator lives elsewhere.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from service import pgtools
from workers.drivers.database import PostgresDatabase
from workers.runbook import pgtap

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "migrations"
ROLLBACKS = MIGRATIONS / "rollback"
SUITE = REPO / "tests" / "backend" / "rls_suite.sql"
SHIM = REPO / "service" / "embedded" / "platform_shim.sql"

# Supabase CLI: the version is the leading digits of the file name.
MIGRATION_NAME = re.compile(r"^([0-9]+)_(.*)\.sql$")
NOOP_MARKER = "-- deploybot:rollback no-op"


@dataclass(frozen=True)
class Migration:
    path: Path

    @property
    def version(self) -> str:
        m = MIGRATION_NAME.match(self.path.name)
        assert m, self.path.name
        return m.group(1)

    @property
    def rollback(self) -> Path:
        return ROLLBACKS / self.path.name

    @property
    def rollback_is_noop(self) -> bool:
        return is_noop(self.rollback.read_text())


def migrations() -> list[Migration]:
    """The migration files in version order."""
    files = [p for p in MIGRATIONS.glob("*.sql") if p.is_file()]
    return sorted((Migration(p) for p in files), key=lambda m: int(m.version))


def strip_comments(sql: str) -> str:
    """SQL without `--` and `/* */` comments (good enough for our own files)."""
    sql = re.sub(r"/\*.*?\*/", "", sql, flags=re.S)
    return re.sub(r"--[^\n]*", "", sql)


def has_statements(sql: str) -> bool:
    return bool(strip_comments(sql).strip().strip(";").strip())


def is_noop(sql: str) -> bool:
    return NOOP_MARKER in (line.strip() for line in sql.splitlines())


def apply_sql(url: str, sql: str) -> None:
    """Run a script in one transaction (like the migrator: a file is all or nothing)."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(sql)  # our own trusted files (no parameters: simple protocol)


def apply_file(url: str, path: Path) -> None:
    apply_sql(url, path.read_text())


def tools_for(url: str) -> pgtools.PgTools:
    with psycopg.connect(url) as conn:
        return pgtools.for_server(conn.info.server_version)


# ---------------------------------------------------------------------------
# Schema snapshots
# ---------------------------------------------------------------------------

_NOISE = re.compile(
    r"^(--$"  # the dashes around pg_dump's section headers
    r"|-- PostgreSQL database dump"
    r"|-- Dumped (from|by) "
    r"|\\(un)?restrict "  # pg_dump >= 17.6/15.14: a random key per dump
    r"|SET \w+ = .*;$"  # session settings pg_dump emits between objects
    r"|SELECT pg_catalog\.set_config\('search_path', '', false\);$)"
)


def normalize_dump(dump: str) -> str:
    """pg_dump --schema-only output made comparable between two dumps.

    Removes what changes from dump to dump without the schema changing (server and
    pg_dump versions, the \\restrict key, session SETs, blank lines) and sorts the GRANT
    lines of each ACL section: an ACL is a set, but a revoke-and-grant-back moves an
    entry to the end of the array, which pg_dump prints in array order.
    Everything else — tables, columns, constraints, indexes, policies, triggers,
    functions, grants, default privileges, comments — is compared as dumped.
    """
    sections: list[tuple[str, list[str]]] = [("preamble", [])]
    for line in dump.splitlines():
        if line.startswith("-- Name: "):
            sections.append((line, []))
            continue
        if not line.strip() or _NOISE.match(line):
            continue
        sections[-1][1].append(line.rstrip())
    out: list[str] = []
    for header, lines in sections:
        if "; Type: ACL;" in header or "; Type: DEFAULT ACL;" in header:
            lines = sorted(lines)
        out.append(header)
        out.extend(lines)
        out.append("")
    return "\n".join(out)


def schema_snapshot(url: str) -> str:
    """The whole database's schema (every schema, grants included), normalized."""
    tools = tools_for(url)
    dump = subprocess.run(
        [tools.pg_dump, "--schema-only", "--no-password", "--dbname", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return normalize_dump(dump)


def row_counts(url: str) -> dict[str, int]:
    """Rows in every ordinary table outside the system schemas."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            """
            SELECT format('%I.%I', n.nspname, c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%'
              AND n.nspname NOT LIKE 'pg_temp%'
            ORDER BY 1
            """
        ).fetchall()
        return {
            name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
            for (name,) in tables
        }


# ---------------------------------------------------------------------------
# The RLS suite
# ---------------------------------------------------------------------------


async def run_suite(url: str, *, package: Path | None = None) -> pgtap.FileResult:
    """Run the suite as the bot's verify step does: pgTAP from the server (or from the
    packaged SQL `package`), the file in one transaction that is rolled back."""
    async with PostgresDatabase(url, connect_retries=1) as db:
        source = await pgtap.locate(db, package=package)
        return await pgtap.run_file(db, REPO, SUITE, source, lock_timeout_ms=10_000)
