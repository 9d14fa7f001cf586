"""run_request and the reconciler at the moments that matter, forced in order with real
PostgreSQL locks instead of hoping for the timing: another worker finishing the request
between this worker's look at the queue and its taking the lease; a worker dying after it
concluded its deployment; a worker dying before it started one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from service import queue
from service.ledger import leases, requests
from service.ledger.deployments import Ledger
from tests.app.bot import REPO
from tests.github_server.server import GitHubTestServer
from tests.polling import wait_for
from workers.jobs.context import WorkerContext
from workers.jobs.reconcile import recover
from workers.jobs.run_request import run_request


async def new_request(ctx: WorkerContext, sha: str, installation_id: int, *,
                      pr: int = 10, user: str = "alice") -> int:
    async with ctx.db.connection() as conn:
        created = await requests.create(conn, requests.NewRequest(
            repo=REPO, environment="staging", kind="deploy", commit_sha=sha,
            trigger="comment", installation_id=installation_id, pr_number=pr,
            requested_by=user))
    return created.id


async def deployments_of(ctx: WorkerContext) -> list[dict[str, Any]]:
    async with ctx.db.connection() as conn:
        cur = await conn.execute("SELECT * FROM ledger.deployments ORDER BY id")
        rows: list[dict[str, Any]] = await cur.fetchall()
        return rows


async def test_a_request_finished_while_this_worker_waited_for_the_lease_is_not_run_again(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    ctx = worker_ctx
    rid = await new_request(ctx, world["sha"], github_server.installation_id)
    async with await psycopg.AsyncConnection.connect(
            world["bot"], autocommit=True, row_factory=dict_row) as other:
        # Another worker holds staging's lease for the request and is about to start it.
        lease = await leases.acquire(other, REPO, "staging", holder="other-worker",
                                     request_id=rid)
        assert lease is not None
        async with other.transaction():
            # ... and runs it to the end; its last writes are not committed yet, so this
            # worker still sees the request queued and waits on the lease row.
            dep = await Ledger(other).create_deployment(
                repo=REPO, environment="staging", kind="deploy", commit_sha=world["sha"])
            assert await requests.start(other, rid, dep)
            await Ledger(other).finish(dep, status="succeeded")
            await requests.finish(other, rid)
            await leases.release(other, lease)
            job = asyncio.ensure_future(run_request({"deploybot": ctx}, rid))
            await wait_for(lambda: _waiting_for_a_lock(other), what="the job to wait on the lease")
        result = await asyncio.wait_for(job, 30)
    assert result == f"request {rid} is done"
    assert [d["id"] for d in await deployments_of(ctx)] == [dep]  # run once, not twice
    async with ctx.db.connection() as conn:
        assert await leases.holder(conn, REPO, "staging") is None


async def _waiting_for_a_lock(conn: psycopg.AsyncConnection[Any]) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    return await cur.fetchone() is not None


async def expired_lease(ctx: WorkerContext, rid: int) -> dict[str, Any]:
    """The lease of a worker that died holding it, already past its expiry."""
    async with ctx.db.connection() as conn:
        assert await leases.acquire(conn, REPO, "staging", holder="dead-worker",
                                    request_id=rid, ttl=-1)
        [row] = await leases.expired(conn)
    return row


async def test_a_worker_that_died_after_concluding_its_deployment_keeps_its_outcome(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    ctx = worker_ctx
    client = ctx.github.installation(github_server.installation_id)
    run = await client.create_check_run(REPO, name="deploybot/staging", head_sha=world["sha"],
                                        status="queued")
    rid = await new_request(ctx, world["sha"], github_server.installation_id)
    async with ctx.db.connection() as conn:
        ledger = Ledger(conn)
        dep = await ledger.create_deployment(repo=REPO, environment="staging", kind="deploy",
                                             commit_sha=world["sha"])
        await requests.set_github_ids(conn, rid, check_run_id=int(run["id"]))
        assert await requests.start(conn, rid, dep)
        await ledger.finish(dep, status="succeeded")
    await client.update_check_run(REPO, int(run["id"]), status="completed",
                                  conclusion="success", completed_at=datetime.now(UTC),
                                  output={"title": "Deployed", "summary": "deployed"})
    # It died before marking the request done and releasing the lease (say, while adding
    # the final reaction): the reconciler frees the environment and changes no outcome.
    assert await recover(ctx, await expired_lease(ctx, rid))
    async with ctx.db.connection() as conn:
        assert (await requests.get(conn, rid) or {})["status"] == "done"
        assert (await Ledger(conn).get(dep) or {})["status"] == "succeeded"
        assert await leases.holder(conn, REPO, "staging") is None
    stored = github_server.state.repo(REPO).check_runs[int(run["id"])]
    assert (stored["conclusion"], stored["output"]["title"]) == ("success", "Deployed")
    github_server.assert_no_validation_errors()


async def test_a_worker_that_died_before_starting_leaves_the_request_to_run_next(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    ctx = worker_ctx
    rid = await new_request(ctx, world["sha"], github_server.installation_id)
    assert await recover(ctx, await expired_lease(ctx, rid))
    async with ctx.db.connection() as conn:
        assert (await requests.get(conn, rid) or {})["status"] == "queued"
        assert await leases.holder(conn, REPO, "staging") is None
    jobs = await ctx.redis.zrange(queue.queue_name(ctx.prefix), 0, -1)
    assert [j.decode() for j in jobs] == [
        j.decode() for j in jobs if j.decode().startswith(f"{ctx.prefix}request:{rid}:")]
    assert len(jobs) == 1
    # and the job, when it runs, deploys it
    assert await run_request({"deploybot": ctx}, rid) == f"request {rid}: succeeded"
    assert len(await deployments_of(ctx)) == 1


async def test_a_request_withdrawn_while_its_worker_prepares_is_not_deployed(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    ctx = worker_ctx
    rid = await new_request(ctx, world["sha"], github_server.installation_id)
    # The worker holds the lease and is still fetching the source (slow here) when the
    # person comments /cancel.
    slow = github_server.faults.delay("/repos/*/tarball/*", seconds=1.0)
    job = asyncio.ensure_future(run_request({"deploybot": ctx}, rid))
    await wait_for(lambda: asyncio.sleep(0, slow.hits), what="the source download")
    async with ctx.db.connection() as conn:
        assert await leases.holder(conn, REPO, "staging") is not None
        # what `/cancel` does (workers/commands/cancel.py)
        assert [r["id"] for r in await requests.cancel(conn, REPO, 10, "alice")] == [rid]
    result = await asyncio.wait_for(job, 30)
    assert result == f"request {rid}: withdrawn before it started"
    async with ctx.db.connection() as conn:
        assert (await requests.get(conn, rid) or {})["status"] == "cancelled"
        assert await leases.holder(conn, REPO, "staging") is None
    assert await deployments_of(ctx) == []  # nothing ran, nothing recorded as run


async def test_a_request_withdrawn_at_the_head_of_the_queue_hands_on_to_the_next(
        worker_ctx: WorkerContext, world: dict[str, Any],
        github_server: GitHubTestServer) -> None:
    ctx = worker_ctx
    head = await new_request(ctx, world["sha"], github_server.installation_id)
    nxt = await new_request(ctx, world["sha"], github_server.installation_id, pr=11,
                            user="bob")
    # The next request's job ran first: not its turn, so it ended.
    assert await run_request({"deploybot": ctx}, nxt) == f"waiting behind request {head}"
    async with ctx.db.connection() as conn:
        assert await requests.cancel(conn, REPO, 10, "alice")
    # The head's job finds it withdrawn; nothing runs, so nothing else would start the next.
    assert await run_request({"deploybot": ctx}, head) == f"request {head} is cancelled"
    jobs = [j.decode() for j in await ctx.redis.zrange(queue.queue_name(ctx.prefix), 0, -1)]
    assert any(j.startswith(f"{ctx.prefix}request:{nxt}:") for j in jobs), jobs
