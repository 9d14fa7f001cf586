"""Cron job: rebuild the queue from PostgreSQL and free what dead workers left behind.

Redis may lose work and workers may die; PostgreSQL knows what was accepted. Every run:
deliveries acknowledged but never handled are enqueued again; each environment's oldest
queued request gets a job; leases whose holder stopped renewing are recovered."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from service import queue
from service.ledger import deliveries, leases, requests
from service.ledger.deployments import Ledger
from workers.jobs.context import WorkerContext
from workers.jobs.run_request import kick_next

log = logging.getLogger(__name__)

GRACE_SECONDS = 30.0  # leave fresh work to the normal path


async def reconcile(arq_ctx: dict[str, Any]) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    async with ctx.db.connection() as conn:
        lost = await deliveries.unprocessed(conn, GRACE_SECONDS)
        stale = await requests.stale_queued(conn, GRACE_SECONDS)
        dead = await leases.expired(conn)
    for delivery_id in lost:
        await queue.enqueue(ctx.redis, ctx.prefix, "handle_delivery",
                            queue.delivery_job_id(ctx.prefix, delivery_id), delivery_id)
    recovered = 0
    for lease in dead:
        if await recover(ctx, lease):
            recovered += 1
    for req in stale:
        await kick_next(ctx, req["repo"], req["environment"])
    return (f"re-enqueued {len(lost)} deliveries, kicked {len(stale)} queues, "
            f"recovered {recovered} leases")


async def recover(ctx: WorkerContext, lease: dict[str, Any]) -> bool:
    """A worker died holding a lease: conclude its run honestly and free the environment."""
    async with ctx.db.connection() as conn:
        taken = await leases.acquire(conn, lease["repo"], lease["environment"],
                                     holder=ctx.worker_id, request_id=lease["request_id"],
                                     ttl=ctx.lease_ttl)
        if taken is None:
            return False  # someone else recovered it first
        req = await requests.get(conn, lease["request_id"]) if lease["request_id"] else None
        if req is not None and req["status"] == "running":
            ledger = Ledger(conn)
            reason = "the worker running this deployment stopped; deploybot recovered the lease"
            if req["deployment_id"]:
                dep = await ledger.get(req["deployment_id"])
                if dep is not None and dep["status"] in ("queued", "running"):
                    await ledger.finish(dep["id"], status="failed", reason=reason,
                                        stop_the_line="worker stopped")
            await requests.finish(conn, req["id"], note=reason)
            await _report_abandoned(ctx, req, reason)
        await leases.release(conn, taken)
    await kick_next(ctx, lease["repo"], lease["environment"])
    return True


async def _report_abandoned(ctx: WorkerContext, req: dict[str, Any], reason: str) -> None:
    if req["installation_id"] is None:
        return
    client = ctx.github.installation(req["installation_id"])
    with contextlib.suppress(Exception):
        if req["check_run_id"]:
            await client.update_check_run(req["repo"], req["check_run_id"], status="completed",
                                          conclusion="failure",
                                          output={"title": "Worker stopped", "summary": reason})
    with contextlib.suppress(Exception):
        if req["gh_deployment_id"]:
            await client.create_deployment_status(req["repo"], req["gh_deployment_id"],
                                                  state="error", description=reason)
