"""Job: handle one recorded webhook delivery, exactly once.

The delivery row is claimed in PostgreSQL before anything happens, so a job that Redis
runs twice (or the reconciler re-enqueues) does nothing new once the delivery is handled."""

from __future__ import annotations

import logging
from typing import Any

from service.ledger import deliveries
from service.observability.jobs import observed_job
from workers.handlers.routes import ROUTER
from workers.jobs.context import WorkerContext
from workers.router import Delivery

log = logging.getLogger(__name__)


@observed_job("delivery_id")
async def handle_delivery(arq_ctx: dict[str, Any], delivery_id: str) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    async with ctx.db.connection() as conn:
        row = await deliveries.claim(conn, delivery_id)
    if row is None:
        return "already handled"
    delivery = Delivery(id=row["id"], event=row["event"], action=row["action"],
                        installation_id=row["installation_id"], repo=row["repo"],
                        payload=deliveries.read_payload(row["payload"]))
    try:
        results = await ROUTER.dispatch(ctx, delivery)
    except Exception as exc:
        log.exception("delivery %s failed", delivery_id)
        async with ctx.db.connection() as conn:
            if row["attempts"] >= 3:
                await deliveries.finish(conn, delivery_id, "failed",
                                        f"{type(exc).__name__}: {exc}")
            else:  # back to 'received': the reconciler tries again
                await deliveries.release(
                    conn, delivery_id, f"attempt {row['attempts']} failed: {type(exc).__name__}")
        raise
    result = "; ".join(results) or "no handler"
    async with ctx.db.connection() as conn:
        await deliveries.finish(conn, delivery_id, "processed", result)
    return result
