"""Cron job: ask GitHub to redeliver webhooks that never reached us.

GitHub does not redeliver by itself. Its delivery log (`GET /app/hook/deliveries`) shows the
failed ones; any of those whose GUID is not in our ledger is asked for again
(`POST /app/hook/deliveries/{id}/attempts`), at most a few times each."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from service.ledger.db import fetch_all
from service.ledger.rows import DeliveryIdRow
from service.observability.jobs import observed_job
from workers.jobs.context import WorkerContext

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=72)  # GitHub keeps deliveries for three days
MAX_ATTEMPTS = 3


def _failed(delivery: dict[str, Any]) -> bool:
    code = delivery.get("status_code")
    return not (isinstance(code, int) and 200 <= code < 300)


def _when(delivery: dict[str, Any]) -> datetime | None:
    text = delivery.get("delivered_at")
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@observed_job()
async def redeliver_failed(arq_ctx: dict[str, Any]) -> str:
    ctx: WorkerContext = arq_ctx["deploybot"]
    since = datetime.now(UTC) - LOOKBACK
    ok_guids: set[str] = set()
    failed: dict[str, dict[str, Any]] = {}  # guid → its newest failed attempt
    async for d in ctx.github.iter_hook_deliveries():
        when = _when(d)
        if when is not None and when < since:
            break  # newest first: the rest is older
        guid = str(d.get("guid") or "")
        if not guid:
            continue
        if _failed(d):
            failed.setdefault(guid, d)
        else:
            ok_guids.add(guid)
    todo = [g for g in failed if g not in ok_guids]
    if not todo:
        return "no failed deliveries"
    async with ctx.db.connection() as conn:
        recorded = {r["id"] for r in await fetch_all(
            conn, DeliveryIdRow, "SELECT id FROM ledger.deliveries WHERE id = ANY(%s)", (todo,))}
    asked = 0
    for guid in todo:
        if guid in recorded:
            continue  # it reached us after all (e.g. answered slowly)
        key = f"{ctx.prefix}redelivery:{guid}"
        attempts = await ctx.redis.incr(key)
        await ctx.redis.expire(key, int(LOOKBACK.total_seconds()))
        if attempts > MAX_ATTEMPTS:
            continue
        try:
            await ctx.github.redeliver(int(failed[guid]["id"]))
            asked += 1
        except Exception:
            log.warning("could not ask GitHub to redeliver %s", guid, exc_info=True)
    return f"asked GitHub to redeliver {asked} of {len(todo)} failed deliveries"
