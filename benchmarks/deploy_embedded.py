"""Wall time of `deploybot deploy staging` of this repository on the embedded default, from
an empty staging database, once the embedded servers exist (the issue's goal: under 10 s on
2 cores). Compared in the same run with the floor of the runbook done by hand with the
bare tools: the functions' unit tests (pytest), pg_dump, psql applying every migration in
one transaction, and psql running the RLS suite — no checks, no reports, no rollback.

    .venv/bin/python benchmarks/deploy_embedded.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from service import embedded
from service.pgtools import embedded_bindir
from service.settings import Settings
from workers.runbook.pgtap import packaged_sql

ROOT = Path(__file__).resolve().parent.parent


def reset_staging(services: embedded.Services) -> str:
    with psycopg.connect(services.postgres.url(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS staging WITH (FORCE)")
    return embedded.ensure_environment_database(services, "staging")


def deploy() -> tuple[float, int]:
    started = time.monotonic()
    res = subprocess.run([str(ROOT / ".venv/bin/deploybot"), "deploy", "staging"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if res.returncode != 0:
        sys.exit(f"deploy failed ({res.returncode}):\n{res.stdout[-3000:]}{res.stderr[-2000:]}")
    return took, res.returncode


def last_steps() -> dict[str, float]:
    res = subprocess.run([str(ROOT / ".venv/bin/deploybot"), "history", "--json",
                          "--limit", "1"], cwd=ROOT, capture_output=True, text=True, check=True)
    dep_id = json.loads(res.stdout)[0]["id"]
    settings = Settings.from_env()
    from service.runtime import bot_database_url

    with psycopg.connect(bot_database_url(settings)) as conn:
        rows = conn.execute("SELECT name, duration_ms FROM ledger.deployment_steps "
                            "WHERE deployment_id = %s ORDER BY position", (dep_id,)).fetchall()
    return {name: (ms or 0) / 1000 for name, ms in rows}


def floor(url: str) -> float:
    bindir = embedded_bindir()
    assert bindir is not None
    files = sorted((ROOT / "migrations").glob("*.sql"))
    script = "\n".join(f.read_text() for f in files)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "functions"], cwd=ROOT, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(bindir / "pg_dump"), "-Fc", "-f", f"{tmp}/before", "-d", url],
                       check=True)
    subprocess.run([str(bindir / "psql"), "-X", "-q", "--single-transaction",
                    "-v", "ON_ERROR_STOP=1", "-d", url], input=script, text=True,
                   check=True, capture_output=True)
    # The suite is pgTAP; the embedded server has no extension, so load the packaged SQL
    # as a person would (this database is dropped before the next round).
    pgtap_sql = packaged_sql(18)
    assert pgtap_sql is not None, "apt-get install postgresql-15-pgtap"
    subprocess.run([str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    "-f", str(pgtap_sql), "-f", str(ROOT / "tests/backend/rls_suite.sql"),
                    "-d", url], check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    services = embedded.start(Settings.from_env().data_dir)
    walls, floors = [], []
    for r in range(1, args.rounds + 1):
        reset_staging(services)
        took, _ = deploy()
        walls.append(took)
        steps = last_steps()
        url = reset_staging(services)
        floors.append(floor(url))
        print(f"round {r}: deploy {took:.2f} s  (" + ", ".join(
            f"{k} {v:.2f}" for k, v in steps.items()) + f")  floor {floors[-1]:.2f} s")
    reset_staging(services)
    deploy()  # leave staging deployed, as the README's main job does
    w, f = statistics.median(walls), statistics.median(floors)
    print(f"\ndeploybot deploy staging: median {w:.2f} s wall (goal < 10 s)")
    print(f"floor (pytest + pg_dump + psql migrations + psql RLS suite): median {f:.2f} s; "
          f"ratio {w / f:.1f}x")


if __name__ == "__main__":
    main()
