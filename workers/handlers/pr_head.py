"""pull_request opened / synchronize / reopened: record the pull request's new head.

These records are how a later `/deploy` knows which commit was the head when its comment
was written (workers/commands/head_history.py)."""

from __future__ import annotations

from datetime import datetime

from service.ledger import pr_heads
from workers.handlers.shape import REPOSITORY, malformed
from workers.jobs.context import WorkerContext
from workers.router import Delivery

HEAD_ACTIONS = ("opened", "synchronize", "reopened")
SHAPE = {"number": "number?", "pull_request": "object", "pull_request.number": "number?",
         "pull_request.head": "object", "pull_request.head.sha": "sha",
         "pull_request.updated_at": "time?", **REPOSITORY}


async def on_head_change(ctx: WorkerContext, d: Delivery) -> str:
    p = d.payload
    if (bad := malformed(p, SHAPE)) is not None:
        return bad
    if d.repo is None:
        return "no repository in the payload"
    pull = p["pull_request"]
    number = int(pull.get("number") or p.get("number") or 0)
    if not number:
        return "ignored: malformed payload: no pull request number"
    sha = str(pull["head"]["sha"])
    updated = pull.get("updated_at")
    event_at = datetime.fromisoformat(str(updated).replace("Z", "+00:00")) if updated else None
    async with ctx.db.connection() as conn:
        new = await pr_heads.record_event(conn, repo=d.repo, pr_number=number, sha=sha,
                                          action=str(d.action), delivery_id=d.id,
                                          event_at=event_at)
    return f"#{number} head {sha[:7]} " + ("recorded" if new else "already recorded")

