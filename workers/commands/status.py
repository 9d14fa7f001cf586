"""/status: this pull request's queued and recent deployments, in words."""

from __future__ import annotations

from service.ledger import requests
from service.ledger.db import fetch_all
from service.ledger.rows import DeploymentRow
from workers import messages
from workers.commands.base import CommandRequest


async def run_status(req: CommandRequest) -> str:
    async with req.ctx.db.connection() as conn:
        active = [r for r in await requests.active(conn, req.repo)
                  if r["pr_number"] == req.pr_number]
        positions = {r["id"]: await requests.position(conn, r["id"]) for r in active
                     if r["status"] == "queued"}
        recent = await fetch_all(
            conn, DeploymentRow,
            """SELECT * FROM ledger.deployments WHERE repo = %s AND pr_number = %s
               ORDER BY id DESC LIMIT 10""", (req.repo, req.pr_number))
    lines = [messages.STATUS_REQUEST.format(
        kind=messages.kind_words(r["kind"]).capitalize(), sha=r["commit_sha"][:7],
        environment=r["environment"],
        state=messages.request_state(r["status"], positions.get(r["id"], 0)))
        for r in active if r["deployment_id"] is None]  # a started one is listed below
    for d in recent:
        link = req.ctx.log_url(d["id"])
        lines.append(messages.STATUS_DEPLOYMENT.format(
            id=d["id"], kind=messages.kind_words(d["kind"]), sha=d["commit_sha"][:7],
            environment=d["environment"], state=messages.deployment_state(d["status"]),
            reason=f" — {d['reason']}" if d["reason"] else "",
            link=f" ([log]({link}))" if link else ""))
    await req.react("eyes")
    await req.reply(messages.reply(messages.STATUS.format(
        pr=req.pr_number, lines="\n".join(lines) or messages.STATUS_NONE)))
    return "status"
