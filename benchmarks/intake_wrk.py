"""Intake throughput with wrk: `deploybot serve` against a floor and Probot, same run.

Run by hand:  .venv/bin/python benchmarks/intake_wrk.py [--duration 10] [--connections 32]
              [--threads 2] [--rounds 1] [--workers N]

Each target is a server in processes of its own on loopback, hit by `wrk -t2 -c32` posting the
real `issue_comment.created` payload (15 KB, re-pointed at a pull request as a comment that
is not a command), correctly signed, each request with its own `X-GitHub-Delivery`
(benchmarks/intake/unique_delivery.lua):

  floor       Starlette + uvicorn (uvloop, httptools): verify the signature, answer 202 —
              one process (floor) and --workers processes (floor xN);
  probot      Probot 14.3.2 (npm), a no-op `issue_comment.created` handler, LOG_LEVEL=warn:
              it answers after its handler and keeps nothing;
  deploybot   `deploybot serve --workers N`: every delivery recorded in PostgreSQL (durable
              before the answer) and enqueued in Redis, in a fresh database.

Needs wrk (Debian `wrk`) and, for Probot, node and npm (the registry): Probot is installed
once under benchmarks/.cache/ (not committed). Checked after each deploybot run: every
acknowledged delivery is in ledger.deliveries. Prints each run and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import redis
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service.webhooks.signature import sign  # noqa: E402
from tests.app.bot import comment_payload  # noqa: E402
from tests.github_server.keys import generate_app_keys  # noqa: E402
from tests.http_server import free_port  # noqa: E402

HERE = Path(__file__).resolve().parent / "intake"
CACHE = Path(__file__).resolve().parent / ".cache"
PROBOT = "probot@14.3.2"
SECRET = "bench-webhook-secret"
ADMIN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Result:
    target: str
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    note: str = ""


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, path: str, body: Path, signature: str, *, threads: int, connections: int,
        duration: int) -> Result:
    run = uuid.uuid4().hex[:8]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
         "-s", str(HERE / "unique_delivery.lua"), url, "--", str(body), signature, path, run],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    lat = {p: _ms(v, u)
           for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return Result("", total, rps, lat.get("50", 0.0), lat.get("99", 0.0),
                  int(bad.group(1)) if bad else 0, errors.group(1) if errors else "")


def _wait(url: str, proc: subprocess.Popen[bytes], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before answering")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url}")


@contextlib.contextmanager
def server(argv: list[str], env: dict[str, str], probe: str,
           cwd: Path = REPO) -> Iterator[None]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait(probe, proc)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def probot_installed() -> Path | None:
    """Probot under benchmarks/.cache (installed on first use); None without npm."""
    target = CACHE / "probot"
    binary = target / "node_modules" / "probot" / "bin" / "probot.js"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        return None
    target.mkdir(parents=True, exist_ok=True)
    (target / "package.json").write_text('{"private": true, "type": "module"}\n')
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", PROBOT],
                   cwd=target, check=True)
    return binary if binary.exists() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="deploybot-bench-"))
    payload = comment_payload("Looks good to me, thanks!", pr=7, comment_id=123456)
    body_file = tmp / "body.json"
    body_file.write_bytes(json.dumps(payload).encode())
    signature = sign(SECRET, body_file.read_bytes())
    keys = generate_app_keys()
    py = [sys.executable, "-m"]
    load = {"threads": args.threads, "connections": args.connections,
            "duration": args.duration}
    results: list[Result] = []

    def measure(name: str, url: str, path: str) -> Result:
        wrk(url, path, body_file, signature, threads=args.threads,
            connections=args.connections, duration=2)  # warm-up, not counted
        r = wrk(url, path, body_file, signature, **load)
        r.target = name
        results.append(r)
        print(f"{name:<14} {r.per_second:>9,.0f}/s  p50 {r.p50_ms:6.2f} ms  "
              f"p99 {r.p99_ms:6.2f} ms  non-2xx {r.non_2xx}  {r.note}", flush=True)
        return r

    probot = probot_installed()
    for _ in range(args.rounds):
        for workers, name in ((1, "floor"), (args.workers, f"floor x{args.workers}")):
            port = free_port()
            with server([*py, "uvicorn", "benchmarks.intake.floor_app:app", "--port",
                         str(port), "--workers", str(workers), "--loop", "uvloop", "--http",
                         "httptools", "--no-access-log", "--log-level", "warning"],
                        {"BENCH_SECRET": SECRET}, f"http://127.0.0.1:{port}/"):
                measure(name, f"http://127.0.0.1:{port}", "/webhooks")
        if probot is not None:
            port = free_port()
            with server(["node", str(probot), "run", str(HERE / "probot_app.mjs")],
                        {"APP_ID": "1", "PRIVATE_KEY": keys.private_pem,
                         "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "warn", "PORT": str(port),
                         "NODE_ENV": "production"},
                        f"http://127.0.0.1:{port}/", cwd=CACHE / "probot"):
                measure("probot", f"http://127.0.0.1:{port}", "/api/github/webhooks")
        db = f"bench_{uuid.uuid4().hex[:10]}"
        prefix = f"bench:{uuid.uuid4().hex[:8]}:"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        db_url = ADMIN.rsplit("/", 1)[0] + f"/{db}"
        port = free_port()
        try:
            with server([*py, "workers.cli", "serve", "--port", str(port), "--workers",
                         str(args.workers)],
                        {"DATABASE_URL": db_url, "REDIS_URL": REDIS,
                         "DEPLOYBOT_REDIS_PREFIX": prefix, "DEPLOYBOT_DATA_DIR": str(tmp),
                         "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": keys.private_pem,
                         "GITHUB_WEBHOOK_SECRET": SECRET, "DEPLOYBOT_LOG_FORMAT": "json",
                         "DEPLOYBOT_DASHBOARD_TOKEN": "x" * 32},
                        f"http://127.0.0.1:{port}/healthz"):
                r = measure(f"deploybot x{args.workers}", f"http://127.0.0.1:{port}",
                            "/webhooks")
            with psycopg.connect(db_url) as conn:
                row = conn.execute("SELECT count(*) FROM ledger.deliveries").fetchone()
            stored = int(row[0]) if row else 0
            acked = r.requests - r.non_2xx
            print(f"{'':<14} {stored:,} deliveries recorded for {acked:,} acknowledged "
                  f"(warm-up included): {'ok' if stored >= acked else 'LOST SOME'}")
        finally:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db)))
            client = redis.Redis.from_url(REDIS)
            for pattern in (f"{prefix}*", f"arq:job:{prefix}*"):
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
    shutil.rmtree(tmp, ignore_errors=True)

    def best(prefix: str) -> Result | None:
        found = [r for r in results if r.target.startswith(prefix)]
        return max(found, key=lambda r: r.per_second) if found else None

    floor, ours, peer = best("floor"), best("deploybot"), best("probot")
    if floor and ours:
        print(f"\ndeploybot / floor (1 process): {ours.per_second / floor.per_second:.2f}x")
    if peer and ours:
        print(f"deploybot / probot:            {ours.per_second / peer.per_second:.2f}x "
              f"(p99 {ours.p99_ms:.1f} ms vs {peer.p99_ms:.1f} ms)")


if __name__ == "__main__":
    main()
