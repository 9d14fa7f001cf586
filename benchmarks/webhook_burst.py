"""Webhook burst: N signed deliveries fired at POST /webhooks with bounded concurrency —
acknowledgement latency p50/p95/p99 and throughput — against a floor served the same way: a
Starlette app that only verifies the HMAC signature and answers 202.

Run by hand:  .venv/bin/python benchmarks/webhook_burst.py [--deliveries 2000]
              [--in-flight 64] [--rounds 3] [--step-ms 2000] [--logs DIR]

The burst is tests/faults/test_webhook_burst.py's (tests/faults/burst.py): 200 commands
(/help and /wcid, 10 on each of 20 pull requests), two `/deploy staging` (first and
mid-burst), the rest filler — comments that are not commands, pushes to feature branches,
pull requests closed unmerged, and events the intake acknowledges without recording.

Targets, each round in a fresh bot database (server of BENCH_DATABASE_URL) and Redis key
prefix (BENCH_REDIS_URL), the order rotating between rounds:
  floor       the HMAC-only app;
  bot         the bot's web app (service.app.create_app), nothing draining the queue;
  bot+worker  the same while one worker process (tests/queue/worker_process.py: arq with
              the production worker_settings) handles the deliveries as they arrive and
              runs the two deployments — one injected step sleeping --step-ms instead of
              the runbook — talking to the test GitHub server in this process.
Each web process is served as `deploybot serve` serves it (workers/cli.py): logs.configure()
(JSON lines through the redacting handler, uvicorn's access log included), then
uvicorn.run(app, log_config=None, proxy_headers=True), in a process of its own. The client is
a process of its own too (this script with --fire): one httpx.AsyncClient, at most
--in-flight requests in flight over as many kept-alive connections, opened by an untimed
warm-up of pings; a delivery's latency runs from sending it to reading the answer.

Checked every round: every delivery acknowledged with a 2xx. Bot rounds: every delivery of a
handled event recorded in ledger.deliveries once, the others not at all. With the worker:
every recorded delivery processed by exactly one claim (attempts = 1), every command answered
with one 👀, both deployments succeeded. Prints each round, then medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from psycopg import sql
from psycopg.rows import dict_row

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.queue_throughput import (  # noqa: E402
    clean,
    cpu_seconds,
    remember_git_answers,
    stop,
)
from tests.app.bot import REPO as GH_REPO  # noqa: E402
from tests.app.bot import post_comment  # noqa: E402
from tests.faults.burst import (  # noqa: E402
    Delivery,
    delivery,
    filler,
    fire,
    percentile,
    pings,
)
from tests.fixture_repo import git, make_repo  # noqa: E402
from tests.github_server.keys import AppKeys, generate_app_keys  # noqa: E402
from tests.github_server.server import GitHubTestServer  # noqa: E402
from tests.http_server import free_port  # noqa: E402
from tests.queue.worker_process import SPEC_VAR  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-webhook-secret"
WEB_SPEC = "BENCH_WEB_SPEC"
TARGETS = ("floor", "bot", "bot+worker")
COMMAND_PRS = range(100, 120)
DEPLOY_PRS = (91, 92)


# -- the processes this script runs as ----------------------------------------------------

def floor_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from service.webhooks.signature import verify

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if not verify(SECRET, body, request.headers.get("x-hub-signature-256")):
            return JSONResponse({"error": "signature"}, status_code=401)
        return JSONResponse({"accepted": request.headers.get("x-github-delivery", "")},
                            status_code=202)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/webhooks", receive, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])])


def serve(target: str, port: int) -> None:
    """A web process, served as workers/cli.py's `deploybot serve` serves the bot."""
    import uvicorn

    from service.app import WebConfig, create_app
    from service.observability import logs

    logs.configure(json_lines=True)
    if target == "floor":
        app = floor_app()
    else:
        spec = json.loads(os.environ[WEB_SPEC])
        app = create_app(WebConfig(spec["database_url"], spec["redis_url"], SECRET,
                                   spec["prefix"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, proxy_headers=True)


def fire_from(deliveries: Path, url: str, in_flight: int, out: Path) -> None:
    """The client: fire the burst in `deliveries` (JSON lines), write what came back."""
    rows = [json.loads(line) for line in deliveries.read_text().splitlines()]
    batch = [Delivery(r["id"], r["event"], r["body"].encode(), r["kind"]) for r in rows]
    warmup = [d for d in batch if d.kind == "warmup"]
    burst = [d for d in batch if d.kind != "warmup"]
    fired = asyncio.run(fire(url, burst, SECRET, concurrency=in_flight, warmup=warmup))
    out.write_text(json.dumps({"wall": fired.wall, "cpu": fired.cpu, "acks": [
        {"id": a.delivery.id, "status": a.status, "seconds": a.seconds, "answer": a.answer}
        for a in fired.acks]}))


# -- one round ------------------------------------------------------------------------------

@dataclass
class Round:
    target: str
    wall: float
    ms: list[float]  # acknowledgement latencies
    web_cpu: float  # CPU seconds of the web process during the burst
    client_cpu: float  # … and of the client
    handled: float | None = None  # first delivery received → last one processed (worker)
    worker_cpu: float = 0.0  # CPU seconds of the worker process, burst start → all handled
    jobs: dict[str, tuple[int, float]] | None = None  # worker job → (runs, mean seconds)

    def p(self, q: float) -> float:
        return percentile(self.ms, q)


class Failed(AssertionError):
    pass


def compose(github: GitHubTestServer, repo: Path, sha: str, total: int) -> list[Delivery]:
    state = github.state
    state.add_repo(GH_REPO, git=repo)
    state.set_permission(GH_REPO, "alice", "write")
    for pr in (*DEPLOY_PRS, *COMMAND_PRS):
        state.add_pull(GH_REPO, pr, head_sha=sha, user_login="alice")
    deploys = [delivery("issue_comment", post_comment(github, "/deploy staging", pr=pr),
                        "deploy") for pr in DEPLOY_PRS]
    commands = [delivery("issue_comment", post_comment(github, f"/{name}", pr=pr), name)
                for pr in COMMAND_PRS for name in ("help", "wcid") for _ in range(5)]
    burst = commands + filler(total - len(commands) - 2, repo=GH_REPO,
                              installation_id=github.installation_id)
    random.Random(11).shuffle(burst)
    burst.insert(0, deploys[0])
    burst.insert(total // 2, deploys[1])
    return burst


async def spawn(args: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=REPO, env={**os.environ, **env}, stdout=out,
            stderr=asyncio.subprocess.STDOUT)


async def until_up(url: str, proc: asyncio.subprocess.Process, logs: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise Failed(f"the web process exited; see {logs}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise Failed(f"the web process did not start; see {logs}")


async def start_worker(github: GitHubTestServer, spec: dict[str, Any], step_seconds: float,
                       root: Path, logs: Path) -> asyncio.subprocess.Process:
    """One worker process; the sleeping step stands in for the runbook, so staging's
    database (the bot's, here) is named but never touched."""
    ready = root / f"ready-{uuid.uuid4().hex[:8]}"
    proc = await spawn(["-m", "tests.queue.worker_process"], {
        "STAGING_DATABASE_URL": spec["database_url"], "STAGING_ANON_KEY": "bench-anon-key",
        SPEC_VAR: json.dumps({
            **spec, "data_dir": str(root / "data"), "app_id": github.app_id,
            "private_key": github.private_key, "api_url": github.url, "lease_ttl": 60.0,
            "step_seconds": step_seconds, "ready_file": str(ready)})}, logs / "worker.log")
    while not ready.exists():
        if proc.returncode is not None:
            raise Failed(f"the worker did not start; see {logs}")
        await asyncio.sleep(0.05)
    return proc


async def ledger(url: str, query: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        cur = await conn.execute(query)
        return await cur.fetchall()


async def drained(url: str, recorded: set[str], limit: float) -> float:
    """Wait for the worker to handle every delivery and both deployments; check each was
    handled by one claim. Returns first received → last processed, in seconds."""
    deadline = time.monotonic() + limit
    while True:
        rows = await ledger(url, "SELECT id, status, attempts, received_at, processed_at "
                                 "FROM ledger.deliveries")
        deps = await ledger(url, "SELECT status FROM ledger.deployments")
        if (all(r["status"] == "processed" for r in rows)
                and len(deps) == len(DEPLOY_PRS)
                and all(d["status"] not in ("queued", "running") for d in deps)):
            break
        if time.monotonic() > deadline:
            left = sum(r["status"] != "processed" for r in rows)
            raise Failed(f"{left} deliveries not handled after {limit:.0f} s")
        await asyncio.sleep(0.2)
    if {r["id"] for r in rows} != recorded:
        raise Failed("the ledger's deliveries are not the recorded ones")
    twice = [r["id"] for r in rows if r["attempts"] != 1]
    if twice:
        raise Failed(f"{len(twice)} deliveries claimed more than once: {twice[:5]}")
    if any(d["status"] != "succeeded" for d in deps):
        raise Failed(f"deployments: {[d['status'] for d in deps]}")
    span = max(r["processed_at"] for r in rows) - min(r["received_at"] for r in rows)
    return float(span.total_seconds())


async def job_times(prefix: str) -> dict[str, tuple[int, float]]:
    """Runs and mean wall time per worker job, from the job metrics the worker keeps in
    Redis (service/observability/jobs.py). A job records its own after the ledger shows it
    done: wait (briefly) for both deployments' runs."""
    redis = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    metric = f"{prefix}metrics:job_duration_seconds"
    runs = json.dumps({"job": "run_request", "le": "+Inf", "outcome": "ok"},
                      sort_keys=True, separators=(",", ":"))
    try:
        for _ in range(50):
            if float(await redis.hget(metric, runs) or 0) >= len(DEPLOY_PRS):
                break
            await asyncio.sleep(0.1)
        fields = await redis.hgetall(metric)
    finally:
        await redis.aclose()
    count: dict[str, float] = {}
    total: dict[str, float] = {}
    for field, value in fields.items():
        labels = json.loads(field)
        if labels["le"] == "+Inf":
            count[labels["job"]] = count.get(labels["job"], 0) + float(value)
        elif labels["le"] == "sum":
            total[labels["job"]] = total.get(labels["job"], 0) + float(value)
    return {job: (int(n), total.get(job, 0.0) / n) for job, n in count.items() if n}


def check_answers(github: GitHubTestServer, burst: list[Delivery]) -> None:
    repo = github.state.repo(GH_REPO)
    for d in burst:
        if d.kind in ("help", "wcid"):
            comment = json.loads(d.body)["comment"]["id"]
            if [r["content"] for r in repo.reactions.get(comment, [])] != ["eyes"]:
                raise Failed(f"/{d.kind} comment {comment}: {repo.reactions.get(comment)}")
    replies = sum(1 for c in repo.comments.values() if c["_issue_number"] in COMMAND_PRS
                  and c["user"]["login"].endswith("[bot]"))
    commands = sum(d.kind in ("help", "wcid") for d in burst)
    if replies != commands:
        raise Failed(f"{replies} replies to {commands} commands")


async def one_round(target: str, args: argparse.Namespace, keys: AppKeys, sha: str,
                    root: Path, logs: Path) -> Round:
    name = f"bench_burst_{uuid.uuid4().hex[:10]}"
    url = f"{ADMIN_URL.partition('?')[0].rpartition('/')[0]}/{name}"
    prefix = f"bench:{uuid.uuid4().hex[:10]}:"
    procs: list[asyncio.subprocess.Process] = []
    with GitHubTestServer.running(keys) as github:
        burst = compose(github, root / "repo", sha, args.deliveries)
        batch = root / f"{name}.jsonl"
        batch.write_text("\n".join(json.dumps(
            {"id": d.id, "event": d.event, "kind": d.kind, "body": d.body.decode()})
            for d in [*(Delivery(p.id, p.event, p.body, "warmup")
                        for p in pings(args.in_flight, repo=GH_REPO,
                                      installation_id=github.installation_id)),
                      *burst]))
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            port = free_port()
            spec = {"database_url": url, "redis_url": REDIS_URL, "prefix": prefix}
            web = await spawn([__file__, "--serve", target, "--port", str(port)],
                              {WEB_SPEC: json.dumps(spec)}, logs / f"web-{target}.log")
            procs.append(web)
            base = f"http://127.0.0.1:{port}"
            await until_up(base, web, logs)
            if target == "bot+worker":
                procs.append(await start_worker(github, spec, args.step_ms / 1000,
                                                root, logs))
            out = root / f"{name}.json"
            cpu0 = cpu_seconds(web.pid)
            worker_cpu0 = cpu_seconds(procs[1].pid) if len(procs) > 1 else 0.0
            client = await spawn([__file__, "--fire", str(batch), "--url", f"{base}/webhooks",
                                  "--in-flight", str(args.in_flight), "--out", str(out)], {},
                                 logs / "client.log")
            if await client.wait() != 0:
                raise Failed(f"the client failed; see {logs}")
            web_cpu = cpu_seconds(web.pid) - cpu0
            result = json.loads(out.read_text())
            acks = result["acks"]
            bad = [a for a in acks if not 200 <= a["status"] < 300]
            if bad:
                raise Failed(f"{len(bad)} deliveries not acknowledged, e.g. {bad[:3]}")
            done = Round(target, result["wall"], [a["seconds"] * 1000 for a in acks], web_cpu,
                         result["cpu"])
            if target != "floor":
                recorded = {d.id for d in burst if d.recorded}
                rows = await ledger(url, "SELECT id FROM ledger.deliveries")
                if len(rows) != len(recorded) or {r["id"] for r in rows} != recorded:
                    raise Failed(f"{len(rows)} deliveries recorded, expected {len(recorded)}")
            if target == "bot+worker":
                done.handled = await drained(url, {d.id for d in burst if d.recorded},
                                             args.timeout)
                done.worker_cpu = cpu_seconds(procs[1].pid) - worker_cpu0
                done.jobs = await job_times(prefix)
                check_answers(github, burst)
            return done
        finally:
            await stop(procs)
            redis = aioredis.Redis.from_url(REDIS_URL)
            await clean(redis, prefix)
            await redis.aclose()
            async with await psycopg.AsyncConnection.connect(ADMIN_URL,
                                                             autocommit=True) as admin:
                await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))


def line(r: Round) -> str:
    n = len(r.ms)
    text = (f"{n / r.wall:5.0f} acks/s, p50 {r.p(50):6.1f} ms, p95 {r.p(95):6.1f} ms, "
            f"p99 {r.p(99):6.1f} ms, max {max(r.ms):6.1f} ms; CPU per ack: web "
            f"{r.web_cpu / n * 1000:.2f} ms, client {r.client_cpu / n * 1000:.2f} ms")
    if r.handled is not None:
        text += (f"; all handled {r.handled:.1f} s after the first arrived, worker CPU "
                 f"{r.worker_cpu:.1f} s; jobs: " + ", ".join(
                     f"{job} {n} × {mean * 1000:.0f} ms"
                     for job, (n, mean) in sorted((r.jobs or {}).items())))
    return text


async def main(args: argparse.Namespace) -> None:
    keys = generate_app_keys()
    remember_git_answers()  # the test GitHub server's `git` is not what is measured
    results: dict[str, list[Round]] = {t: [] for t in TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        root = Path(tmp)
        sha = git(make_repo(root / "repo"), "rev-parse", "HEAD")
        logs = args.logs or root
        logs.mkdir(parents=True, exist_ok=True)
        for r in range(args.rounds):
            for target in TARGETS[r % 3:] + TARGETS[:r % 3]:
                done = await one_round(target, args, keys, sha, root, logs)
                results[target].append(done)
                print(f"round {r + 1}: {target:10s} {line(done)}", flush=True)
    floor_p99 = statistics.median(x.p(99) for x in results["floor"])
    print(f"\n{args.deliveries} deliveries, {args.in_flight} in flight, {os.cpu_count()} "
          f"cores; medians of {args.rounds} round(s); every round verified (all 2xx; bot: "
          "every handled event recorded once; worker: each handled by one claim, every "
          "command answered once, both deployments succeeded)\n")
    print("| target | acks/s | p50 | p95 | p99 | max | p99 × floor | web CPU/ack | "
          "client CPU/ack |")
    print("|---|---|---|---|---|---|---|---|---|")
    for target, rounds in results.items():
        def med(f: Callable[[Round], float], rs: list[Round] = rounds) -> float:
            return statistics.median(f(x) for x in rs)
        print(f"| {target} | {med(lambda x: len(x.ms) / x.wall):.0f} | "
              f"{med(lambda x: x.p(50)):.1f} ms | {med(lambda x: x.p(95)):.1f} ms | "
              f"{med(lambda x: x.p(99)):.1f} ms | {med(lambda x: max(x.ms)):.1f} ms | "
              f"{med(lambda x: x.p(99)) / floor_p99:.1f} | "
              f"{med(lambda x: x.web_cpu / len(x.ms)) * 1000:.2f} ms | "
              f"{med(lambda x: x.client_cpu / len(x.ms)) * 1000:.2f} ms |")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step-ms", type=float, default=2000.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here")
    parser.add_argument("--serve", choices=["floor", "bot", "bot+worker"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fire", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
    elif args.fire:
        fire_from(args.fire, args.url, args.in_flight, args.out)
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
