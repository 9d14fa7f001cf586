"""The watch's bookkeeping on real PostgreSQL and Redis: a sample is recorded once however
often its job runs, the watch stops when a newer deployment or a rollback succeeded, skips
its turn while another request runs, lost jobs are resumed; and a sample against a function
host that is not deploybot's (no metrics endpoint) measures the probe alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.config.model import EnvironmentConfig, Paths, WatchConfig
from service.github import GitHubApp
from service.ledger import requests, watches
from service.ledger.db import ensure_schema
from service.ledger.deployments import Ledger
from service.queue import queue_name
from service.settings import Settings
from tests.conftest import REDIS_URL
from tests.github_server.fixtures import FAST_RETRY
from tests.github_server.server import GitHubTestServer
from tests.http_server import serve
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase
from workers.drivers.functions import PostgresFunctionReleases
from workers.jobs.context import WorkerContext
from workers.jobs.watch import resume_watches, watch_deployment, watch_job_id
from workers.runbook.context import Environment
from workers.watch.probe import load_probe
from workers.watch.sampler import take_sample
from workers.watch.stored_config import to_json
from workers.watch.thresholds import evaluate

REPO = "octo/backend"
ENV = EnvironmentConfig(name="staging", database_url_env="STAGING_DATABASE_URL",
                        watch=WatchConfig(window_seconds=60, interval_seconds=1))


@dataclass
class World:
    ctx: WorkerContext
    arq: dict[str, Any]
    redis: ArqRedis

    async def deployment(self, status: str = "succeeded", kind: str = "deploy",
                         environment: str = "staging") -> int:
        async with self.ctx.db.connection() as conn:
            ledger = Ledger(conn)
            dep = await ledger.create_deployment(repo=REPO, environment=environment,
                                                 kind=kind, commit_sha="a" * 40)
            if status != "running":
                await ledger.finish(dep, status=status)
            return dep

    async def watch(self, dep: int, *, first_at: datetime | None = None) -> None:
        now = datetime.now(UTC)
        async with self.ctx.db.connection() as conn:
            assert await watches.create(
                conn, deployment_id=dep, request_id=None, repo=REPO, environment="staging",
                installation_id=None, config=to_json(ENV, Paths()), started_at=now,
                ends_at=now + timedelta(seconds=60), interval_s=1.0,
                first_at=first_at or now + timedelta(seconds=1))

    async def get(self, dep: int) -> dict[str, Any]:
        async with self.ctx.db.connection() as conn:
            row = await watches.get(conn, dep)
        assert row is not None
        return row

    async def queued(self, dep: int, seq: int) -> bool:
        score = await self.redis.zscore(queue_name(self.ctx.prefix),
                                        watch_job_id(self.ctx.prefix, dep, seq))
        return score is not None


@pytest.fixture
async def world(fresh_db: str, redis_prefix: str, tmp_path: Path) -> AsyncIterator[World]:
    await ensure_schema(fresh_db)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        fresh_db, min_size=1, max_size=2, open=False,
        kwargs={"autocommit": True, "row_factory": dict_row})
    await pool.open(wait=True)
    redis = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    ctx = WorkerContext(settings=Settings(data_dir=tmp_path, database_url=fresh_db,
                                          redis_url=REDIS_URL, redis_prefix=redis_prefix),
                        db=pool, redis=redis, github=None, database_url=fresh_db)
    try:
        yield World(ctx, {"deploybot": ctx}, redis)
    finally:
        for key in await redis.zrange(queue_name(redis_prefix), 0, -1):
            await redis.delete(b"arq:job:" + key)
        await redis.aclose()
        await pool.close()


def sample(seq: int) -> watches.SampleRow:
    return watches.SampleRow(seq=seq, at=datetime.now(UTC), latency_p95_ms=12.0,
                             error_rate=0.0, connections=3, requests=1, errors=0)


async def test_a_sample_is_recorded_once_however_often_its_job_runs(world: World) -> None:
    dep = await world.deployment()
    await world.watch(dep)
    later = datetime.now(UTC) + timedelta(seconds=1)
    async with world.ctx.db.connection() as conn:
        assert await watches.record_sample(conn, dep, sample(1), status="watching",
                                           next_at=later)
        assert not await watches.record_sample(conn, dep, sample(1), status="watching",
                                               next_at=later)
        assert not await watches.skip(conn, dep, 1, later, "busy")  # taken already
        assert await watches.skip(conn, dep, 2, later, "busy")
        assert not await watches.record_sample(conn, dep, sample(2), status="watching",
                                               next_at=later)
        assert len(await watches.samples(conn, dep)) == 1
    assert (await world.get(dep))["next_sample"] == 3
    # a duplicate job of a taken sample does nothing
    assert "taken already" in await watch_deployment(world.arq, dep, 2)


async def test_the_watch_ends_when_a_newer_deployment_or_a_rollback_succeeded(
        world: World) -> None:
    dep = await world.deployment()
    async with world.ctx.db.connection() as conn:
        assert await watches.ended_by(conn, dep) is None
        await world.deployment(status="failed")  # a failed one changed nothing
        await world.deployment(environment="production")  # another environment
        assert await watches.ended_by(conn, dep) is None
        newer = await world.deployment()
        assert await watches.ended_by(conn, dep) == f"superseded by a newer deployment " \
                                                   f"(#{newer})"
        assert await watches.ended_by(conn, newer) is None
        rollback = await world.deployment(kind="rollback")
        await Ledger(conn).merge_details(newer, {"rolled_back_by": rollback})
        assert await watches.ended_by(conn, newer) == f"rolled back by #{rollback}"
        failed = await world.deployment(status="rolled_back")
        assert await watches.ended_by(conn, failed) == f"deployment #{failed} is rolled_back"

    await world.watch(dep)
    result = await watch_deployment(world.arq, dep, 1)
    assert result.startswith(f"stopped watching deployment {dep}: superseded")
    row = await world.get(dep)
    assert row["status"] == "stopped" and "superseded" in row["note"]
    assert not await world.queued(dep, 2)
    assert "stopped" in await watch_deployment(world.arq, dep, 1)  # ended: nothing more


async def test_a_sample_is_skipped_while_another_request_runs(world: World) -> None:
    dep = await world.deployment()
    await world.watch(dep)
    async with world.ctx.db.connection() as conn:
        created = await requests.create(conn, requests.NewRequest(
            repo=REPO, environment="staging", kind="deploy", commit_sha="b" * 40,
            trigger="comment"))
        running = await world.deployment(status="running")
        assert await requests.start(conn, created.id, running)
    result = await watch_deployment(world.arq, dep, 1)
    assert result == f"sample 1 skipped: request {created.id} runs in staging"
    row = await world.get(dep)
    assert row["status"] == "watching" and row["next_sample"] == 2
    assert await world.queued(dep, 2)


async def test_lost_sample_jobs_are_resumed(world: World) -> None:
    late = await world.deployment()
    on_time = await world.deployment(environment="production")
    await world.watch(late, first_at=datetime.now(UTC) - timedelta(minutes=5))
    await world.watch(on_time)
    assert await resume_watches(world.arq) == "resumed 1 watch job(s)"
    assert await world.queued(late, 1) and not await world.queued(on_time, 1)
    assert await resume_watches(world.arq) == "resumed 0 watch job(s)"  # one job per sample


SMOKE = """\
version: 1
checks:
  - name: quote calculation
    http: {method: POST, path: /functions/v1/calculate-quote, json: {grams: 100}}
    expect: {status: 200}
"""


async def test_a_host_without_metrics_is_measured_by_the_probe(
        fresh_db: str, tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def quote(request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization"))
        return JSONResponse({"error": "boom"}, status_code=500)

    app = Starlette(routes=[Route("/functions/v1/calculate-quote", quote, methods=["POST"])])
    (tmp_path / "smoke.yml").write_text(SMOKE)
    probe, _ = load_probe(tmp_path, "smoke.yml")
    with serve(app) as url:
        config = EnvironmentConfig(name="remote", database_url_env="REMOTE_DATABASE_URL",
                                   functions_url=url)

        async def functions_url() -> str:
            return url

        database = PostgresDatabase(fresh_db)
        env = Environment(name="remote", config=config, database=database,
                          backups=LocalBackupStore(tmp_path / "backups"),
                          functions=PostgresFunctionReleases(fresh_db), anon_key="k3y",
                          functions_url=functions_url)
        try:
            async with httpx.AsyncClient() as client:
                taken = await take_sample(env, probe, 30.0, client)
        finally:
            await database.aclose()
    assert seen == ["Bearer k3y"]
    assert taken.source == "probe" and taken.probe is not None and taken.probe.status == 500
    f = taken.figures
    assert (f.requests, f.errors, f.error_rate) == (1, 1, 1.0)
    assert f.connections is not None and f.connections >= 1
    assert any("host metrics unavailable" in n for n in taken.notes)
    assert [b.metric for b in evaluate(f, WatchConfig())] == ["error_rate"]


async def test_breach_reports_are_retried_one_by_one_until_all_went_through(
        world: World, github_server: GitHubTestServer) -> None:
    """GitHub refuses the comment once: the deployment status and the check run are not
    made twice when the breach is handled again, and the comment follows."""
    github_server.state.add_repo(REPO)
    github_server.state.add_pull(REPO, 5, head_sha="a" * 40, user_login="alice")
    app = GitHubApp(github_server.app_id, github_server.private_key, github_server.url,
                    world.redis, world.ctx.prefix, retry=FAST_RETRY)
    world.ctx.github = app
    client = app.installation(1)
    run = await client.create_check_run(REPO, name="deploybot/canary", head_sha="a" * 40,
                                        conclusion="success",
                                        output={"title": "Deployed", "summary": "### Deployed"})
    gh_dep = await client.create_deployment(REPO, ref="a" * 40, environment="canary")
    assert gh_dep.id is not None
    env = EnvironmentConfig(name="canary", database_url_env="CANARY_DATABASE_URL",
                            lead="octo/leads", watch=WatchConfig(auto_rollback=False))
    now = datetime.now(UTC)
    async with world.ctx.db.connection() as conn:
        ledger = Ledger(conn)
        dep = await ledger.create_deployment(repo=REPO, environment="canary", kind="deploy",
                                             commit_sha="a" * 40, pr_number=5)
        await ledger.finish(dep, status="succeeded")
        req = await requests.create(conn, requests.NewRequest(
            repo=REPO, environment="canary", kind="deploy", commit_sha="a" * 40,
            trigger="comment", installation_id=1, pr_number=5))
        await requests.set_github_ids(conn, req.id, check_run_id=int(run["id"]),
                                      gh_deployment_id=gh_dep.id)
        await watches.create(conn, deployment_id=dep, request_id=req.id, repo=REPO,
                             environment="canary", installation_id=1,
                             config=to_json(env, Paths()), started_at=now,
                             ends_at=now + timedelta(hours=1), interval_s=30, first_at=now)
        found = [{"metric": "error_rate", "value": 1.0, "threshold": 0.01,
                  "text": "error rate 100 % (1 of 1 requests) over 1 %"}]
        row = watches.SampleRow(seq=1, at=now, latency_p95_ms=12.0, error_rate=1.0,
                                connections=3, requests=1, errors=1, probe_status=500,
                                probe_latency_ms=12.0, breaches=found)
        assert await watches.record_sample(
            conn, dep, row, status="breached", next_at=now,
            breach=watches.BreachRow(found[0]["text"], found, False))
    github_server.faults.fail(f"/repos/{REPO}/issues/5/comments", status=422, method="POST")
    try:
        first = await watch_deployment(world.arq, dep, 1)
        assert first.endswith("Roll back offered; will retry: comment"), first
        second = await watch_deployment(world.arq, dep, 1)
        assert second.endswith("Roll back offered"), second
        assert await watch_deployment(world.arq, dep, 1) == "breach already handled"
    finally:
        await app.aclose()
    gh = github_server.state.repo(REPO)
    assert [s["state"] for s in gh.deployment_statuses[gh_dep.id]] == ["failure"]
    assert len(gh.check_run_requests[int(run["id"])]) == 2  # created, then the watch section
    checked = gh.check_runs[int(run["id"])]
    assert checked["conclusion"] == "failure"
    assert [a["identifier"] for a in checked["actions"]] == ["rollback"]
    assert checked["output"]["summary"].startswith("### Deployed\n\n<!-- deploybot:watch -->")
    comments = [c["body"] for c in gh.comments_on(5)]
    assert len(comments) == 1 and "@octo/leads **`canary` is over" in comments[0]
    async with world.ctx.db.connection() as conn:
        breach = await watches.breach(conn, dep)
        details = (await Ledger(conn).get(dep) or {})["details"]
    assert breach is not None and breach["handled_at"] is not None
    assert sorted(breach["reported"]) == ["check run", "comment", "deployment status"]
    assert details["watch"]["status"] == "breached"
    github_server.assert_no_validation_errors()
