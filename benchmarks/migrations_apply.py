"""Applying N trivial migrations: deploybot's PostgresDatabase against its peers and a floor.

Run by hand:  .venv/bin/python benchmarks/migrations_apply.py [--n 500] [--rounds 3]

Every tool applies the same N files (`CREATE TABLE t_00001 (id int);` …) into a fresh
database on the same server, round by round, the tools' order rotating between rounds:

  deploybot  PostgresDatabase.apply_migration per file: each file and its history row in
             one transaction (what the migrate step does; in-process, as in the worker)
  supabase   `supabase db push --db-url …?sslmode=disable --yes` (npm supabase, pinned)
  dbmate     `dbmate --no-dump-schema up` (npm dbmate, pinned; its own file format)
  floor      the same files concatenated through `psql --single-transaction`: one
             transaction, no history — nothing can be faster and still run the SQL
  psql-txns  a reference, not a peer: one psql script doing exactly our work (per file:
             BEGIN, the file, its history row, COMMIT) — the floor for N durable commits

Only the apply is timed: creating the database (and a CHECKPOINT after it, so the WAL of
CREATE DATABASE is not flushed during someone's run) is not. Tools that cannot be installed
(no npm / registry) are left out and say why. Prints medians, ratios to the floor, and
deploybot's ratio to each peer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import pgtools  # noqa: E402
from tests.migrations import supabase_cli  # noqa: E402
from workers.drivers.database import PostgresDatabase  # noqa: E402
from workers.repository.migration_files import discover, pending  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
DBMATE_VERSION = "2.36.0"
DBMATE_PREFIX = REPO / ".deploybot" / "tools" / f"dbmate-{DBMATE_VERSION}"
DBMATE = DBMATE_PREFIX / "node_modules" / ".bin" / "dbmate"

Runner = Callable[[str], Awaitable[None]]


def url_of(name: str) -> str:
    base, _, query = ADMIN_URL.partition("?")
    return f"{base.rpartition('/')[0]}/{name}" + (f"?{query}" if query else "")


def with_sslmode(url: str) -> str:
    return url if "sslmode=" in url else url + ("&" if "?" in url else "?") + "sslmode=disable"


def generate(root: Path, n: int) -> None:
    """N files in three layouts: ours/Supabase's, dbmate's, and one concatenated file."""
    ours = root / "repo" / "migrations"
    supa = root / "supabase" / "supabase" / "migrations"
    dbm = root / "dbmate"
    for d in (ours, ours / "rollback", supa, dbm):
        d.mkdir(parents=True)
    concatenated = []
    transactions = [
        "CREATE SCHEMA supabase_migrations;\n"
        "CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, "
        "statements text[], name text);\n"]
    for i in range(1, n + 1):
        version = 20260101000000 + i
        name = f"{version}_t_{i:05d}.sql"
        body = f"CREATE TABLE t_{i:05d} (id int);\n"
        transactions.append(
            f"BEGIN;\nSET LOCAL lock_timeout = '5000ms';\n{body}"
            f"INSERT INTO supabase_migrations.schema_migrations (version, name, statements) "
            f"VALUES ('{version}', 't_{i:05d}', ARRAY['CREATE TABLE t_{i:05d} (id int)']);\n"
            f"COMMIT;\n")
        (ours / name).write_text(body)
        (ours / "rollback" / name).write_text(f"DROP TABLE t_{i:05d};\n")
        (supa / name).write_text(body)
        (dbm / name).write_text(f"-- migrate:up\n{body}\n-- migrate:down\n"
                                f"DROP TABLE t_{i:05d};\n")
        concatenated.append(body)
    (root / "all.sql").write_text("".join(concatenated))
    (root / "transactions.sql").write_text("".join(transactions))


def npm_install(prefix: Path, spec: str, binary: Path) -> str | None:
    if binary.exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    prefix.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                          "--no-save", spec], capture_output=True, text=True, timeout=600)
    if out.returncode != 0 or not binary.exists():
        return f"npm install {spec} failed: {out.stderr.strip()[-300:]}"
    return None


async def run_process(argv: list[str], env: dict[str, str] | None = None,
                      cwd: Path | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} exited {proc.returncode}: "
                           f"{err.decode()[-2000:]}{out.decode()[-500:]}")


def tools(root: Path) -> tuple[dict[str, Runner], list[str]]:
    runners: dict[str, Runner] = {}
    missing: list[str] = []
    repo = root / "repo"

    async def deploybot(url: str) -> None:
        # the peers get the same superuser URL; a throwaway database, so allowed here
        async with PostgresDatabase(url, allow_superuser=True) as db:
            found = discover(repo)
            todo = pending(found, await db.applied_migrations())
            for i, m in enumerate(todo, 1):  # as the migrate step does
                await db.apply_migration(m, lock_timeout_ms=5000, durable=i == len(todo))

    runners["deploybot"] = deploybot

    why = supabase_cli.install()
    if why is None:
        async def supabase(url: str) -> None:
            await run_process([str(supabase_cli.BINARY), "db", "push", "--db-url",
                               with_sslmode(url), "--yes", "--workdir",
                               str(root / "supabase")], env=os.environ | supabase_cli.QUIET,
                              cwd=root / "supabase")
        runners["supabase"] = supabase
    else:
        missing.append(f"supabase: {why}")

    why = npm_install(DBMATE_PREFIX, f"dbmate@{DBMATE_VERSION}", DBMATE)
    if why is None:
        async def dbmate(url: str) -> None:
            await run_process([str(DBMATE), "--url", with_sslmode(url), "--migrations-dir",
                               str(root / "dbmate"), "--no-dump-schema", "up"])
        runners["dbmate"] = dbmate
    else:
        missing.append(f"dbmate: {why}")

    with psycopg.connect(ADMIN_URL) as conn:
        psql = pgtools.for_server(conn.info.server_version).psql

    async def floor(url: str) -> None:
        await run_process([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                           "-d", url, "-f", str(root / "all.sql")])

    runners["floor"] = floor

    async def psql_txns(url: str) -> None:
        await run_process([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                           "-f", str(root / "transactions.sql")])

    runners["psql-txns"] = psql_txns
    return runners, missing


def create_db() -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute("CHECKPOINT")
    return name


def drop_db(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def count_tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 't\\_%'"
                           ).fetchone()
        return int(row[0]) if row else 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-migrations-") as tmp:
        root = Path(tmp)
        generate(root, args.n)
        runners, missing = tools(root)
        for line in missing:
            print(f"left out: {line}")
        names = list(runners)
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                db = create_db()
                try:
                    started = time.perf_counter()
                    await runners[name](url_of(db))
                    elapsed = time.perf_counter() - started
                    got = count_tables(url_of(db))
                    if got != args.n:
                        raise RuntimeError(f"{name} made {got} tables, not {args.n}")
                finally:
                    drop_db(db)
                times[name].append(elapsed)
                print(f"round {r + 1}  {name:<10} {elapsed:7.3f} s", flush=True)

    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians["floor"]
    print(f"\nN={args.n} migrations, {args.rounds} rounds, medians (and best runs):")
    for name in names:
        runs = ", ".join(f"{t:.3f}" for t in times[name])
        print(f"  {name:<10} {medians[name]:7.3f} s  {medians[name] / floor:5.2f}x floor"
              f"   best {min(times[name]):.3f} s  {min(times[name]) / min(times['floor']):5.2f}x"
              f"   (runs: {runs})")
    ours = medians["deploybot"]
    for name in names:
        if name not in ("deploybot", "floor"):
            print(f"  deploybot / {name}: {ours / medians[name]:.2f}")
    print(f"  deploybot / floor: {ours / floor:.2f}  (goal: <= 1.25)")


if __name__ == "__main__":
    asyncio.run(main())
