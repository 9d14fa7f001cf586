"""Job: watch a deployment that succeeded, for its environment's watch window (runbook:
Monitoring — "monitor logs for 1 hour").

Each sample is a short job of its own that enqueues the next one `interval` later, rather
than one job sleeping for an hour: a worker restart or deploy loses nothing (the next sample
waits in Redis; where it stands is in PostgreSQL), any worker can take the next sample, and
no job holds a worker slot for an hour. Job ids are deterministic per (deployment, sample),
so enqueuing a sample twice runs it once; recording a sample is a compare-and-set in the
ledger, so running it twice records it once. When Redis loses a job, `resume_watches` (a
cron) re-enqueues every watch whose next sample is overdue.

The watch runs without the environment's lease — it only reads, plus the probe's own
row and its cleanup — and skips its turn while another deployment of the environment runs.
It ends early when a newer deployment or a rollback of the environment succeeded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from service import queue
from service.config.model import Config, EnvironmentConfig, Paths
from service.ledger import watches
from service.ledger.db import fetch_one
from service.ledger.rows import CommitRow, RequestRow, WatchRow
from service.observability.jobs import observed_job
from workers.environments import resolve
from workers.github_source import fetch_source
from workers.jobs.context import WorkerContext
from workers.watch.breach import handle_breach
from workers.watch.probe import Probe, load_probe
from workers.watch.report import report_passed
from workers.watch.sampler import Sample, take_sample
from workers.watch.stored_config import as_config, from_json, to_json
from workers.watch.thresholds import Figures, evaluate, summary

log = logging.getLogger(__name__)

FUNCTION = "watch_deployment"
RESUME_GRACE_S = 60.0  # a sample this late (beyond its interval) lost its job
STALE_AFTER_S = 600.0


def watch_job_id(prefix: str, deployment_id: int, seq: int) -> str:
    return f"{prefix}watch:{deployment_id}:{seq}"


async def _enqueue(ctx: WorkerContext, deployment_id: int, seq: int, at: datetime) -> bool:
    """Enqueue sample `seq` for `at`, once per id. A sample not started within
    STALE_AFTER_S of its time is dropped by Redis (the resume cron enqueues it again if the
    watch still needs it), so no job outlives its worth."""
    delay = max(0.0, (at - datetime.now(UTC)).total_seconds())
    job = await ctx.redis.enqueue_job(
        FUNCTION, deployment_id, seq, _job_id=watch_job_id(ctx.prefix, deployment_id, seq),
        _queue_name=queue.queue_name(ctx.prefix), _defer_by=delay or None,
        _expires=delay + STALE_AFTER_S)
    return job is not None


async def start_watch(ctx: WorkerContext, req: RequestRow, deployment_id: int,
                      config: Config) -> None:
    """Begin watching a deployment that succeeded (the first sample one interval on).
    Never raises: the deployment succeeded whatever happens to its watch."""
    env = config.environment(req["environment"])
    if env is None or ctx.plan is not None:  # an injected plan (tests, benchmarks) deployed
        return                               # nothing that could be watched
    try:
        now = datetime.now(UTC)
        first = now + timedelta(seconds=env.watch.interval_seconds)
        async with ctx.db.connection() as conn:
            await watches.create(
                conn, deployment_id=deployment_id, request_id=req["id"], repo=req["repo"],
                environment=env.name, installation_id=req["installation_id"],
                config=to_json(env, config.paths), started_at=now,
                ends_at=now + timedelta(seconds=env.watch.window_seconds),
                interval_s=env.watch.interval_seconds, first_at=first)
        await _enqueue(ctx, deployment_id, 1, first)
    except Exception:  # the resume cron enqueues it if the row was written
        log.warning("could not start watching deployment %s", deployment_id, exc_info=True)


@observed_job("deployment_id")
async def watch_deployment(arq_ctx: dict[str, Any], deployment_id: int, seq: int = 1) -> str:
    """Take sample `seq` of the deployment's watch, act on a breach, schedule the next."""
    ctx: WorkerContext = arq_ctx["deploybot"]
    turn: Obstacle | None = None
    commit = ""
    async with ctx.db.connection() as conn:
        watch = await watches.get(conn, deployment_id)
        if watch is None:
            return f"deployment {deployment_id} is not watched"
        if watch["status"] == "breached":
            pass  # handled below: reporting a breach may need another try
        elif watch["status"] != "watching":
            return f"the watch of deployment {deployment_id} {watch['status']}"
        elif seq != watch["next_sample"]:
            return f"sample {seq} of deployment {deployment_id} was taken already"
        else:
            turn = await _obstacle(conn, watch)
            if turn is not None and turn.ended:
                return turn.why
            deployed = await fetch_one(
                conn, CommitRow, "SELECT commit_sha FROM ledger.deployments WHERE id = %s",
                (deployment_id,))
            commit = deployed["commit_sha"] if deployed is not None else ""
    if watch["status"] == "breached":
        return await handle_breach(ctx, watch)
    if turn is not None:
        return await _skip(ctx, watch, seq, turn.why)
    env, paths = from_json(watch["config"])
    sample = await _take(ctx, watch, env, paths, commit)
    breaches = evaluate(sample.figures, env.watch)
    last = sample.at >= watch["ends_at"]
    status = "breached" if breaches else "passed" if last else "watching"
    next_at = min(sample.at + timedelta(seconds=float(watch["interval_s"])), watch["ends_at"])
    row = watches.SampleRow(
        seq=seq, at=sample.at, latency_p95_ms=sample.figures.latency_p95_ms,
        error_rate=sample.figures.error_rate, connections=sample.figures.connections,
        requests=sample.figures.requests, errors=sample.figures.errors,
        probe_status=sample.probe.status if sample.probe else None,
        probe_latency_ms=round(sample.probe.latency_ms, 1) if sample.probe else None,
        source=sample.source, notes=sample.notes, breaches=[b.as_json() for b in breaches])
    text = summary(breaches)
    recorded = False
    async with ctx.db.connection() as conn:
        # Look again: what happened while sampling (a newer deployment that succeeded, or
        # one that started) makes this sample say nothing about this deployment.
        turn = await _obstacle(conn, watch)
        if turn is None:
            recorded = await watches.record_sample(
                conn, deployment_id, row, status=status, next_at=next_at,
                note=text or ("the window ended" if last else None),
                breach=watches.BreachRow(text, row.breaches, env.watch.auto_rollback)
                if breaches else None)
    if turn is not None:
        return turn.why if turn.ended else await _skip(ctx, watch, seq, turn.why)
    if not recorded:
        return f"sample {seq} of deployment {deployment_id} was taken already"
    if breaches:
        return await handle_breach(ctx, watch)
    if last:
        await report_passed(ctx, watch)
        return f"watch of deployment {deployment_id} passed (last sample: {seq})"
    await _enqueue(ctx, deployment_id, seq + 1, next_at)
    return f"sample {seq} of deployment {deployment_id}: within the thresholds"


@dataclass(frozen=True)
class Obstacle:
    ended: bool  # the watch is over (and marked so); else only this turn is skipped
    why: str


async def _obstacle(conn: psycopg.AsyncConnection[Any], watch: WatchRow) -> Obstacle | None:
    """Why this sample is not taken — the watch has no point any more, or another request
    runs in the environment — or None to go on."""
    deployment_id = int(watch["deployment_id"])
    reason = await watches.ended_by(conn, deployment_id)
    if reason is not None:
        await watches.finish(conn, deployment_id, "stopped", reason)
        return Obstacle(True, f"stopped watching deployment {deployment_id}: {reason}")
    busy = await watches.environment_busy(conn, watch["repo"], watch["environment"])
    if busy is not None:
        return Obstacle(False, f"request {busy} runs in {watch['environment']}")
    return None


async def _skip(ctx: WorkerContext, watch: WatchRow, seq: int, why: str) -> str:
    """Let this turn pass (another deployment of the environment runs): the next sample one
    interval on, or the end of the watch if its window is over."""
    deployment_id = int(watch["deployment_id"])
    now = datetime.now(UTC)
    if now >= watch["ends_at"]:
        async with ctx.db.connection() as conn:
            ended = await watches.finish(conn, deployment_id, "passed",
                                         f"the window ended while {why}")
        if ended:
            await report_passed(ctx, watch)
        return f"watch of deployment {deployment_id} passed"
    next_at = now + timedelta(seconds=float(watch["interval_s"]))
    async with ctx.db.connection() as conn:
        moved = await watches.skip(conn, deployment_id, seq, next_at,
                                   f"sample {seq} skipped: {why}")
    if moved:
        await _enqueue(ctx, deployment_id, seq + 1, next_at)
    return f"sample {seq} skipped: {why}"


async def _probe(ctx: WorkerContext, watch: WatchRow, paths: Paths, commit: str
                 ) -> tuple[Probe | None, str]:
    """The probe from the smoke file at the deployed commit (unpacked by the deployment on
    this machine; fetched again elsewhere)."""
    try:
        client = ctx.github.installation(int(watch["installation_id"])) \
            if watch["installation_id"] is not None else None
        source = await fetch_source(client, watch["repo"], commit,
                                    ctx.settings.data_dir / "checkouts")
    except Exception as exc:
        return None, f"no probe: the source at {commit[:7]} is unavailable " \
                     f"({type(exc).__name__})"
    return load_probe(source.root, paths.smoke)


async def _take(ctx: WorkerContext, watch: WatchRow, env: EnvironmentConfig,
                paths: Paths, commit: str) -> Sample:
    probe, why = await _probe(ctx, watch, paths, commit)
    since = watch["last_sample_at"] or watch["started_at"]
    window = (datetime.now(UTC) - since).total_seconds()
    try:
        environment = resolve(as_config(env, paths), env.name, ctx.settings)
    except Exception as exc:  # e.g. its database variable is gone: nothing to measure
        return Sample(datetime.now(UTC), Figures(None, None, 0, 0, None), None, "none",
                      (f"the environment cannot be reached: {exc}",))
    try:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            sample = await take_sample(environment, probe, window, client)
    finally:
        if environment.close is not None:
            await environment.close()
        aclose = getattr(environment.database, "aclose", None)
        if aclose is not None:
            await aclose()
    if probe is None:
        return Sample(sample.at, sample.figures, sample.probe, sample.source,
                      (why, *sample.notes))
    return sample


@observed_job()
async def resume_watches(arq_ctx: dict[str, Any]) -> str:
    """Cron: re-enqueue the samples whose jobs were lost (and breaches not yet reported)."""
    ctx: WorkerContext = arq_ctx["deploybot"]
    async with ctx.db.connection() as conn:
        due = await watches.overdue(conn, RESUME_GRACE_S)
    resumed = 0
    now = datetime.now(UTC)
    for row in due:
        if await _enqueue(ctx, int(row["deployment_id"]), int(row["seq"]), now):
            resumed += 1
    return f"resumed {resumed} watch job(s)"
