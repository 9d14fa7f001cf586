"""The watch's word on GitHub: a "Watch" section in the deployment's check run (replaced,
never repeated, when written again), and the outcome in the deployment's ledger details."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from service.github.client import CheckConclusion, InstallationClient
from service.ledger import requests, watches
from service.ledger.deployments import Ledger
from service.ledger.rows import WatchRow
from workers.jobs.context import WorkerContext
from workers.watch import messages
from workers.watch.stored_config import from_json

log = logging.getLogger(__name__)


async def add_section(client: InstallationClient, repo: str, check_run_id: int, section: str, *,
                      title: str | None = None, conclusion: CheckConclusion | None = None,
                      actions: Sequence[dict[str, str]] | None = None) -> None:
    run = await client.get_check_run(repo, check_run_id)
    output = run.get("output") or {}
    new: dict[str, Any] = {
        "title": (title or output.get("title") or "deploybot")[:250],
        "summary": messages.with_section(str(output.get("summary") or ""), section),
    }
    if output.get("text"):
        new["text"] = output["text"]
    await client.update_check_run(repo, check_run_id, output=new, conclusion=conclusion,
                                  actions=actions)


async def report_passed(ctx: WorkerContext, watch: WatchRow) -> None:
    """The window ended without a breach: say so in the check run and the ledger."""
    env, _ = from_json(watch["config"])
    dep_id = int(watch["deployment_id"])
    async with ctx.db.connection() as conn:
        samples = await watches.samples(conn, dep_id)
        req = await requests.get(conn, watch["request_id"]) if watch["request_id"] else None
        await Ledger(conn).merge_details(dep_id, {"watch": {
            "status": "passed", "samples": len(samples)}})
    if req is None or not req["check_run_id"] or watch["installation_id"] is None:
        return
    client = ctx.github.installation(int(watch["installation_id"]))
    try:
        await add_section(client, watch["repo"], int(req["check_run_id"]),
                          messages.passed_section(cfg=env.watch, samples=samples))
    except Exception:  # the ledger has it; the check run is a courtesy here
        log.warning("could not add the watch result to check run %s", req["check_run_id"],
                    exc_info=True)
