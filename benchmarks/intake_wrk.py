"""Intake throughput with wrk: `deploybot serve` against a floor and Probot, same run.

Run by hand:  .venv/bin/python benchmarks/intake_wrk.py [--duration 10] [--connections 32]
              [--threads 2] [--rounds 1] [--workers 1,2] [--targets floor,probot,deploybot]
              [--baseline DIR]  (DIR: an earlier revision's checkout, measured in the same
                                 rounds as `before xN`)

Each target is a server in processes of its own on loopback, hit by `wrk -t2 -c32` posting the
real `issue_comment.created` payload (15 KB, re-pointed at a pull request as a comment that
is not a command), correctly signed, each request with its own `X-GitHub-Delivery`
(benchmarks/intake/unique_delivery.lua):

  floor       Starlette + uvicorn (uvloop, httptools), one process: verify the signature,
              answer 202;
  probot      Probot 14.3.2 (npm), a no-op `issue_comment.created` handler, LOG_LEVEL=warn:
              it answers after its handler and keeps nothing;
  deploybot   `deploybot serve --workers N`, once per N of --workers: every delivery
              recorded in PostgreSQL (durable before the answer) and enqueued in Redis, in a
              fresh database.

Needs wrk (Debian `wrk`) and, for Probot, node and npm (the registry): Probot is installed
once under benchmarks/.cache/ (not committed). Checked after each deploybot run: every
acknowledged delivery of the measured run is in ledger.deliveries. Prints each run (with the
CPU per request of the server's processes and of PostgreSQL's), the medians, and per round
deploybot's ratios to Probot and the floor; the targets' order rotates between rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
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
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    run: str
    server_cpu_ms: float = 0.0  # CPU of the server's processes per request
    postgres_cpu_ms: float = 0.0  # CPU of every PostgreSQL process per request
    round: int = 0


def wrk(url: str, path: str, body: Path, signature: str, *, threads: int, connections: int,
        duration: int) -> Result:
    """One wrk run; its figures from the line the Lua script's done() prints."""
    run = uuid.uuid4().hex[:8]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
         "-s", str(HERE / "unique_delivery.lua"), url, "--", str(body), signature, path, run],
        capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    f = json.loads(line.removeprefix("WRK_JSON "))
    return Result("", f["requests"], f["requests"] / (f["duration_us"] / 1e6),
                  f["p50_us"] / 1000, f["p95_us"] / 1000, f["p99_us"] / 1000, f["non_2xx"],
                  f["socket_errors"], run)


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _postgres() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "postmaster"):
            found.append(p)
    return found


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
           cwd: Path = REPO) -> Iterator[int]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait(probe, proc)
        yield proc.pid
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
    manifest = target / "node_modules" / "probot" / "package.json"
    if binary.exists() and json.loads(manifest.read_text())["version"] == PROBOT.split("@")[1]:
        return binary
    if not shutil.which("npm"):
        return None
    target.mkdir(parents=True, exist_ok=True)
    (target / "package.json").write_text('{"private": true, "type": "module"}\n')
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", PROBOT],
                   cwd=target, check=True)
    return binary if binary.exists() else None


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workers", default="1,2",
                    help="deploybot serve --workers, one target per value (1,2)")
    ap.add_argument("--targets", default="floor,probot,deploybot")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of an earlier revision (`git archive REV | tar -x -C "
                         "DIR`): its `serve` measured too, as `before xN`, same rounds")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    targets = set(args.targets.split(","))
    worker_counts = [int(w) for w in args.workers.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="deploybot-bench-"))
    payload = comment_payload("Looks good to me, thanks!", pr=7, comment_id=123456)
    body_file = tmp / "body.json"
    body_file.write_bytes(json.dumps(payload).encode())
    signature = sign(SECRET, body_file.read_bytes())
    keys = generate_app_keys()
    py = [sys.executable, "-m"]
    results: list[Result] = []
    print(f"payload {body_file.stat().st_size:,} bytes; wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration}s; load before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    def measure(name: str, url: str, path: str, pid: int, rnd: int) -> Result:
        wrk(url, path, body_file, signature, threads=args.threads,
            connections=args.connections, duration=2)  # warm-up, not counted
        server, pg = _tree(pid), _postgres()
        before = _cpu(server), _cpu(pg)
        r = wrk(url, path, body_file, signature, threads=args.threads,
                connections=args.connections, duration=args.duration)
        acks = max(1, r.requests)
        r.server_cpu_ms = (_cpu(server) - before[0]) / acks * 1000
        r.postgres_cpu_ms = (_cpu(pg) - before[1]) / acks * 1000
        r.target, r.round = name, rnd
        results.append(r)
        print(f"{name:<13} {r.per_second:>7,.0f}/s  p50 {r.p50_ms:6.2f}  p95 {r.p95_ms:6.2f}  "
              f"p99 {r.p99_ms:6.2f} ms  non-2xx {r.non_2xx}  socket errors "
              f"{r.socket_errors}  CPU/req server {r.server_cpu_ms:.3f} ms, postgres "
              f"{r.postgres_cpu_ms:.3f} ms", flush=True)
        return r

    def floor(rnd: int) -> None:
        port = free_port()
        with server([*py, "uvicorn", "benchmarks.intake.floor_app:app", "--port",
                     str(port), "--loop", "uvloop", "--http", "httptools",
                     "--no-access-log", "--log-level", "warning"],
                    {"BENCH_SECRET": SECRET}, f"http://127.0.0.1:{port}/") as pid:
            measure("floor", f"http://127.0.0.1:{port}", "/webhooks", pid, rnd)

    def probot(rnd: int) -> None:
        binary = probot_installed()
        if binary is None:
            print("probot        left out: npm is not installed", flush=True)
            return
        port = free_port()
        with server(["node", str(binary), "run", str(HERE / "probot_app.mjs")],
                    {"APP_ID": "1", "PRIVATE_KEY": keys.private_pem,
                     "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "warn", "PORT": str(port),
                     "NODE_ENV": "production"},
                    f"http://127.0.0.1:{port}/", cwd=CACHE / "probot") as pid:
            measure("probot", f"http://127.0.0.1:{port}", "/api/github/webhooks", pid, rnd)

    def deploybot(workers: int, rnd: int, root: Path = REPO, label: str = "deploybot") -> None:
        db = f"bench_{uuid.uuid4().hex[:10]}"
        prefix = f"bench:{uuid.uuid4().hex[:8]}:"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        db_url = ADMIN.rsplit("/", 1)[0] + f"/{db}"
        port = free_port()
        try:
            with server([*py, "workers.cli", "serve", "--port", str(port), "--workers",
                         str(workers)],
                        {"DATABASE_URL": db_url, "REDIS_URL": REDIS,
                         "DEPLOYBOT_REDIS_PREFIX": prefix, "DEPLOYBOT_DATA_DIR": str(tmp),
                         "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": keys.private_pem,
                         "GITHUB_WEBHOOK_SECRET": SECRET, "DEPLOYBOT_LOG_FORMAT": "json",
                         "DEPLOYBOT_DASHBOARD_TOKEN": "x" * 32},
                        f"http://127.0.0.1:{port}/healthz", cwd=root) as pid:
                r = measure(f"{label} x{workers}", f"http://127.0.0.1:{port}",
                            "/webhooks", pid, rnd)
            # The server is stopped: every answer it gave is final.
            with psycopg.connect(db_url) as conn:
                # One transaction per group commit: its rows share an xmin.
                row = conn.execute("SELECT count(*), count(DISTINCT xmin::text) "
                                   "FROM ledger.deliveries WHERE id LIKE %s",
                                   (f"{r.run}-%",)).fetchone()
            stored, commits = (int(row[0]), int(row[1])) if row else (0, 0)
            acked = r.requests - r.non_2xx
            print(f"{'':<13} {stored:,} deliveries of the run recorded for {acked:,} "
                  f"acknowledged: {'ok' if stored >= acked else 'LOST SOME'}; "
                  f"{commits:,} commits, {stored / max(1, commits):.1f} deliveries each",
                  flush=True)
        finally:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db)))
            client = redis.Redis.from_url(REDIS)
            for pattern in (f"{prefix}*", f"arq:job:{prefix}*"):
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)

    plan: list[Callable[[int], None]] = []
    if "floor" in targets:
        plan.append(floor)
    if "probot" in targets:
        plan.append(probot)
    if "deploybot" in targets:
        plan.extend(functools.partial(deploybot, w) for w in worker_counts)
        if args.baseline is not None:
            plan.extend(functools.partial(deploybot, w, root=args.baseline.resolve(),
                                          label="before") for w in worker_counts)
    for rnd in range(args.rounds):
        print(f"-- round {rnd + 1}", flush=True)
        shift = rnd % len(plan)  # rotate the order: a busy moment hits a different target
        for step in plan[shift:] + plan[:shift]:
            step(rnd)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    names = list(dict.fromkeys(r.target for r in results))
    print(f"\n{'target':<13} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7}  (medians over "
          f"{args.rounds} round(s), ms)")
    for name in names:
        rs = [r for r in results if r.target == name]
        print(f"{name:<13} {_median([r.per_second for r in rs]):>7,.0f} "
              f"{_median([r.p50_ms for r in rs]):>7.2f} {_median([r.p95_ms for r in rs]):>7.2f} "
              f"{_median([r.p99_ms for r in rs]):>7.2f}")
    for rnd in range(args.rounds):
        by = {r.target: r for r in results if r.round == rnd}
        peer, base = by.get("probot"), by.get("floor")
        for name, r in by.items():
            if not name.startswith(("deploybot", "before")):
                continue
            parts = []
            if peer:
                parts.append(f"/ probot {r.per_second / peer.per_second:.2f}x")
            if base:
                parts.append(f"/ floor {r.per_second / base.per_second:.2f}x")
            verdict = ""
            if peer:
                met = r.per_second >= peer.per_second and r.p99_ms < 20
                verdict = f"  goal (>= probot, p99 < 20 ms): {'met' if met else 'NOT met'}"
            print(f"round {rnd + 1} {name:<13} {' '.join(parts)}{verdict}")


if __name__ == "__main__":
    main()
