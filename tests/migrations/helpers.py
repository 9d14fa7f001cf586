"""Helpers of the migration tests: migration files in a temporary repository, and schema
snapshots taken with pg_dump of the server's major version."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from workers.drivers.database import PostgresDatabase
from workers.drivers.interfaces import MigrationFile
from workers.repository.migration_files import discover


def make_migration(root: Path, name: str, sql: str,
                   rollback: str | None = None) -> MigrationFile:
    """Write `migrations/<name>` (and its rollback) under root and read it back."""
    (root / "migrations" / "rollback").mkdir(parents=True, exist_ok=True)
    (root / "migrations" / name).write_text(sql)
    if rollback is not None:
        (root / "migrations" / "rollback" / name).write_text(rollback)
    return next(m for m in discover(root) if m.path.name == name)


async def run(argv: list[str], env: dict[str, str] | None = None, *,
              cwd: Path | None = None) -> str:
    """Run a program; its standard output, or AssertionError with what it said."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(300):  # bounded: a hung tool must not hang the suite
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, (
        f"{argv[0]} exited {proc.returncode}:\n{err.decode()}\n{out.decode()}")
    return out.decode()


def subprocess_env(db: PostgresDatabase) -> dict[str, str]:
    """The worker's environment without PG* variables, plus the database's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return env | db.libpq_env()


_NOISE = re.compile(r"^(--.*|\\(un)?restrict .*|SET \w+ = .*;|"
                    r"SELECT pg_catalog\.set_config\('search_path', '', false\);)$")


async def schema_dump(db: PostgresDatabase, *exclude_schemas: str) -> str:
    """`pg_dump --schema-only` without what differs between two dumps of one schema (the
    \\restrict key, versions, session settings); ACL lines sorted within each object
    (an ACL is a set, and revoke-then-grant moves an entry to the end)."""
    tools = db.tools(await db.server_version_num())
    argv = [tools.pg_dump, "--schema-only", "--no-password"]
    argv += [f"--exclude-schema={s}" for s in exclude_schemas]
    out = await run(argv, subprocess_env(db))
    blocks: list[list[str]] = [[]]
    for line in out.splitlines():
        if line.startswith("-- Name: "):
            blocks.append([line])
        elif line.strip() and not _NOISE.match(line):
            blocks[-1].append(line)
    return "\n".join("\n".join(b[:1] + sorted(b[1:]) if b and "Type: ACL" in b[0] else b)
                     for b in blocks)
