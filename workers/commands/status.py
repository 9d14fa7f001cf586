"""/status: this pull request's queued and recent deployments."""

from __future__ import annotations

from service.ledger import requests
from workers import messages
from workers.commands.base import CommandRequest


async def run_status(req: CommandRequest) -> str:
    async with req.ctx.db.connection() as conn:
        active = [r for r in await requests.active(conn, req.repo)
                  if r["pr_number"] == req.pr_number]
        cur = await conn.execute(
            """SELECT * FROM ledger.deployments WHERE repo = %s AND pr_number = %s
               ORDER BY id DESC LIMIT 10""", (req.repo, req.pr_number))
        recent = await cur.fetchall()
    lines: list[str] = []
    for r in active:
        pos = await _position(req, r["id"])
        lines.append(f"- {r['kind']} of `{r['commit_sha'][:7]}` to `{r['environment']}`: "
                     f"{r['status']}" + (f" (position {pos})" if r["status"] == "queued" else ""))
    for d in recent:
        link = req.ctx.log_url(d["id"])
        lines.append(f"- #{d['id']} {d['kind']} of `{d['commit_sha'][:7]}` to "
                     f"`{d['environment']}`: **{d['status']}**"
                     + (f" — {d['reason']}" if d["reason"] else "")
                     + (f" ([log]({link}))" if link else ""))
    await req.react("eyes")
    await req.reply(messages.reply(
        f"**Deployments of #{req.pr_number}**\n\n" + ("\n".join(lines) or "none yet")))
    return "status"


async def _position(req: CommandRequest, request_id: int) -> int:
    async with req.ctx.db.connection() as conn:
        return await requests.position(conn, request_id)
