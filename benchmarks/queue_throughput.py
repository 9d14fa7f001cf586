"""Queue throughput: N deployment requests over E environments through the real queue, leases
and arq workers, with 1, 2 and 4 worker processes, against the floor.

Run by hand:  .venv/bin/python benchmarks/queue_throughput.py [--requests 200]
              [--environments 20] [--workers 1,2,4] [--step-ms 50] [--rounds 3]

Each round, for each worker count (the order rotating between rounds):
  - a fresh bot database on the server of BENCH_DATABASE_URL and a fresh Redis key prefix
    on BENCH_REDIS_URL;
  - W worker processes (tests/queue/worker_process.py: arq's Worker with the production
    worker_settings, max_jobs 10 each), whose deployments run one injected step sleeping
    --step-ms (WorkerContext.plan), so the figure measures the machinery, not a runbook;
  - the requests are recorded and enqueued exactly as workers/accept.py does
    (requests.create, then a run_request job with the request's job id), minus the GitHub
    check run and deployment, round-robin over the environments. Workers still talk to
    the test GitHub server (tests/github_server) for the repository, the configuration
    on the default branch and the source tarball, as in production.

Timed: from the first request recorded to the last one done (polled in the ledger every
20 ms). Then checked, from the ledger: every request done exactly once (one deployment per
request, all succeeded — none lost, none run twice), and per environment the runs strictly
one at a time ([started_at, finished_at] never overlapping) and in arrival order.

The floor: the step time times the requests, divided by how many can run at once —
min(W × 10 jobs, E environments) — and never less than one environment's requests back to
back (N / E × step). Prints medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg import sql
from psycopg.rows import dict_row

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import queue  # noqa: E402
from service.github import GitHubApp  # noqa: E402
from service.ledger import requests  # noqa: E402
from service.ledger.db import ensure_schema  # noqa: E402
from tests.fixture_repo import git, make_repo  # noqa: E402
from tests.github_server import gitrepo  # noqa: E402
from tests.github_server.server import GitHubTestServer  # noqa: E402
from tests.queue.worker_process import SPEC_VAR  # noqa: E402
from workers.arq_settings import MAX_JOBS  # noqa: E402
from workers.github_source import fetch_source  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GH_REPO = "bench/backend"


def url_of(name: str) -> str:
    base, _, query = ADMIN_URL.partition("?")
    return f"{base.rpartition('/')[0]}/{name}" + (f"?{query}" if query else "")


def config_with(environments: int) -> str:
    lines = ["default_branch: main", "environments:"]
    for i in range(1, environments + 1):
        # never touched by the injected step; the environment must still resolve
        lines += [f"  env{i:02d}:", "    database_url_env: BENCH_ENV_DATABASE_URL",
                  "    anon_key_env: BENCH_ENV_ANON_KEY"]
    return "\n".join(lines) + "\n"


@dataclass
class Round:
    workers: int
    wall: float  # first request recorded → last request done
    recorded: float  # time to record and enqueue all requests
    jobs: int  # run_request jobs that ran (the extra ones found the environment busy)
    times: dict[str, float]  # medians: a request's run, its deployment, the handoff
    worker_cpu: float  # CPU seconds the worker processes used during the round
    main_cpu: float  # … and this process (the test GitHub server runs in it)


class Failed(AssertionError):
    pass


async def spawn(workers: int, spec: dict[str, Any], logs: Path
                ) -> list[asyncio.subprocess.Process]:
    procs = []
    readies = []
    for i in range(workers):
        ready = logs / f"ready-{uuid.uuid4().hex[:8]}"
        out = (logs / f"worker-{i}.log").open("ab")
        try:
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.queue.worker_process", cwd=REPO,
                env={**os.environ, "BENCH_ENV_DATABASE_URL": spec["database_url"],
                     "BENCH_ENV_ANON_KEY": "bench-anon-key",
                     SPEC_VAR: json.dumps({**spec, "ready_file": str(ready)})},
                stdout=out, stderr=asyncio.subprocess.STDOUT))
        finally:
            out.close()
        readies.append(ready)
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in readies):
        if any(p.returncode is not None for p in procs) or time.monotonic() > deadline:
            await stop(procs)
            raise Failed(f"a worker process did not start; see {logs}")
        await asyncio.sleep(0.05)
    return procs


async def stop(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        if p.returncode is None:
            p.send_signal(signal.SIGTERM)  # arq finishes and closes cleanly
    for p in procs:
        try:
            await asyncio.wait_for(p.wait(), 20)
        except TimeoutError:
            p.kill()
            await p.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fetch(conn: psycopg.AsyncConnection[Any], query: str) -> list[dict[str, Any]]:
    cur = await conn.execute(query)
    return await cur.fetchall()


def verify(reqs: list[dict[str, Any]], deps: list[dict[str, Any]], leases: list[Any],
           n: int) -> dict[str, float]:
    """None lost, none run twice, one at a time and in order per environment. Returns where
    the time went (medians, seconds)."""
    if len(reqs) != n or any(r["status"] != "done" for r in reqs):
        raise Failed(f"requests not all done: {[(r['id'], r['status']) for r in reqs][:10]}")
    by_dep = {d["id"]: d for d in deps}
    ran = [r["deployment_id"] for r in reqs]
    if len(deps) != n or sorted(ran) != sorted(by_dep):
        raise Failed(f"{len(deps)} deployments for {n} requests: some ran twice or not at all")
    if any(d["status"] != "succeeded" for d in deps):
        raise Failed("some deployments did not succeed")
    if leases:
        raise Failed(f"leases left behind: {leases}")
    gaps: list[float] = []
    for env, group in itertools.groupby(sorted(reqs, key=lambda r: r["environment"]),
                                        key=lambda r: r["environment"]):
        runs = sorted(group, key=lambda r: r["started_at"])
        gaps += [(b["started_at"] - a["finished_at"]).total_seconds()
                 for a, b in itertools.pairwise(runs)]
        if [r["id"] for r in runs] != sorted(r["id"] for r in runs):
            raise Failed(f"{env}: requests ran out of arrival order")
        for kind, spans in (("request", runs),
                            ("deployment", sorted((by_dep[r["deployment_id"]] for r in runs),
                                                  key=lambda d: d["started_at"]))):
            for a, b in itertools.pairwise(spans):
                if a["finished_at"] > b["started_at"]:
                    raise Failed(f"{env}: {kind}s {a['id']} and {b['id']} overlapped")
    return {
        "request": statistics.median(
            (r["finished_at"] - r["started_at"]).total_seconds() for r in reqs),
        "deployment": statistics.median(
            (d["finished_at"] - d["started_at"]).total_seconds() for d in deps),
        "handoff": statistics.median(gaps) if gaps else 0.0,
    }


async def one_round(workers: int, args: argparse.Namespace, github: GitHubTestServer,
                    sha: str, data_dir: Path, logs: Path) -> Round:
    name = f"bench_queue_{uuid.uuid4().hex[:10]}"
    url = url_of(name)
    prefix = f"bench:{uuid.uuid4().hex[:10]}:"
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    redis = await queue.connect(REDIS_URL)
    procs: list[asyncio.subprocess.Process] = []
    try:
        await ensure_schema(url)
        spec = {"database_url": url, "redis_url": REDIS_URL, "prefix": prefix,
                "data_dir": str(data_dir), "app_id": github.app_id,
                "private_key": github.private_key, "api_url": github.url,
                "lease_ttl": 60.0, "step_seconds": args.step_ms / 1000}
        procs = await spawn(workers, spec, logs)
        async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, row_factory=dict_row) as conn:
            cpu0 = [cpu_seconds(p.pid) for p in procs]
            main0 = time.process_time()
            started = time.perf_counter()
            for i in range(args.requests):  # as accept() does, one arrival after another
                created = await requests.create(conn, requests.NewRequest(
                    repo=GH_REPO, environment=f"env{i % args.environments + 1:02d}",
                    kind="deploy", commit_sha=sha, trigger="benchmark",
                    installation_id=github.installation_id))
                await queue.enqueue(redis, prefix, "run_request",
                                    queue.request_job_id(prefix, created.id), created.id)
            recorded = time.perf_counter() - started
            deadline = time.monotonic() + args.timeout
            while True:
                [row] = await fetch(conn, "SELECT count(*) AS n FROM ledger.requests "
                                          "WHERE status = 'done'")
                if row["n"] == args.requests:
                    break
                if time.monotonic() > deadline:
                    raise Failed(f"only {row['n']} of {args.requests} requests done after "
                                 f"{args.timeout} s; see {logs}")
                await asyncio.sleep(0.02)
            wall = time.perf_counter() - started
            worker_cpu = sum(cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
            main_cpu = time.process_time() - main0
            times = verify(await fetch(conn, "SELECT * FROM ledger.requests"),
                           await fetch(conn, "SELECT * FROM ledger.deployments"),
                           await fetch(conn, "SELECT * FROM ledger.leases"), args.requests)
        jobs = 0  # arq keeps each finished job's result for a minute (longer than a round)
        async for _ in redis.scan_iter(match=f"arq:result:{prefix}request:*", count=1000):
            jobs += 1
        return Round(workers, wall, recorded, jobs, times, worker_cpu, main_cpu)
    finally:
        await stop(procs)
        await clean(redis, prefix)
        await redis.aclose()
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


async def clean(redis: aioredis.Redis, prefix: str) -> None:
    for pattern in (f"{prefix}*", f"arq:*:{prefix}*"):
        async for key in redis.scan_iter(match=pattern, count=1000):
            await redis.delete(key)


def remember_git_answers() -> None:
    """The test GitHub server spawns several `git` processes per API call; the fixture never
    changes during the run, so answer each lookup from memory after the first. Its HTTP,
    token checks and JSON stay as they were: the figure then measures our side, not `git`
    on a 2-core machine."""
    for name in ("resolve", "entry"):
        original = getattr(gitrepo, name)
        memo: dict[tuple[Any, ...], Any] = {}

        async def remembered(*args: Any, _original: Any = original,
                             _memo: dict[tuple[Any, ...], Any] = memo) -> Any:
            if args not in _memo:
                _memo[args] = await _original(*args)
            return _memo[args]

        setattr(gitrepo, name, remembered)


def floor(workers: int, args: argparse.Namespace) -> float:
    step: float = args.step_ms / 1000
    n: int = args.requests
    envs: int = args.environments
    return max(n * step / min(workers * MAX_JOBS, envs), n / envs * step)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--environments", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--step-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--logs", type=Path, help="keep the workers' logs here")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        root = Path(tmp)
        repo = make_repo(root / "repo", config_with(args.environments))
        sha = git(repo, "rev-parse", "HEAD")
        remember_git_answers()
        with GitHubTestServer.running() as github:
            github.state.add_repo(GH_REPO, git=repo)
            data_dir = root / "data"
            # Unpack the source once before timing, as a busy worker's cache would hold it.
            redis = await queue.connect(REDIS_URL)
            app = GitHubApp(github.app_id, github.private_key, github.url, redis,
                            f"bench:{uuid.uuid4().hex[:10]}:")
            await fetch_source(app.installation(github.installation_id), GH_REPO, sha,
                               data_dir / "checkouts")
            await app.aclose()
            await redis.aclose()
            results: dict[int, list[Round]] = {w: [] for w in counts}
            for r in range(args.rounds):
                for w in counts[r % len(counts):] + counts[:r % len(counts)]:
                    logs = args.logs or root
                    logs.mkdir(parents=True, exist_ok=True)
                    result = await one_round(w, args, github, sha, data_dir, logs)
                    results[w].append(result)
                    print(f"round {r + 1}: {w} worker(s) {result.wall:6.2f} s "
                          f"(recording {result.recorded:.2f} s, {result.jobs} jobs, CPU "
                          f"workers {result.worker_cpu:.1f} s + bench {result.main_cpu:.1f} s"
                          "; medians: "
                          + ", ".join(f"{k} {v * 1000:.0f} ms"
                                      for k, v in result.times.items()) + ")",
                          flush=True)
    print(f"\n{args.requests} requests over {args.environments} environments, one step of "
          f"{args.step_ms:g} ms each, {os.cpu_count()} cores; medians of {args.rounds} "
          f"round(s); every round verified (none lost, none run twice, one at a time and "
          f"in order per environment)\n")
    print("| workers | wall (median) | best | floor | median × floor | requests/s | "
          "jobs/request | worker CPU/request |")
    print("|---|---|---|---|---|---|---|---|")
    for w in counts:
        rounds = results[w]
        wall = statistics.median(x.wall for x in rounds)
        best = min(x.wall for x in rounds)
        jobs = statistics.median(x.jobs for x in rounds)
        cpu = statistics.median(x.worker_cpu for x in rounds)
        f = floor(w, args)
        print(f"| {w} | {wall:.2f} s | {best:.2f} s | {f:.2f} s | {wall / f:.1f} | "
              f"{args.requests / wall:.0f} | {jobs / args.requests:.2f} | "
              f"{cpu / args.requests * 1000:.0f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
