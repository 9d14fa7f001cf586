"""/wcid — "where can I deploy": every environment with its lock, queue and release."""

from __future__ import annotations

from service.ledger import leases, locks, requests
from service.ledger.deployments import Ledger
from workers import messages
from workers.commands.base import CommandRequest


async def run_wcid(req: CommandRequest) -> str:
    rows = ["| environment | state | queue | running now |", "|---|---|---|---|"]
    async with req.ctx.db.connection() as conn:
        ledger = Ledger(conn)
        for name in sorted(req.config.environments):
            lock = await locks.lock_of(conn, req.repo, name)
            lease = await leases.holder(conn, req.repo, name)
            active = await requests.active(conn, req.repo, name)
            queued = [r for r in active if r["status"] == "queued"]
            last = await ledger.last_successful(req.repo, name)
            if lock is not None:
                state = f"🔒 locked by @{lock['owner']} (#{lock['pr_number']})"
            elif lease is not None and not lease["expired"]:
                state = "🔄 deploying"
            else:
                state = "✅ free"
            release = (f"`{last['commit_sha'][:7]}`"
                       + (f" from #{last['pr_number']}" if last["pr_number"] else "")
                       + f" by {last['requested_by'] or last['trigger']}"
                       f" ({last['finished_at']:%Y-%m-%d %H:%M} UTC)") if last else "nothing yet"
            queue_text = ", ".join(
                f"#{r['pr_number'] or '—'} {r['kind']}" for r in queued) or "empty"
            rows.append(f"| `{name}` | {state} | {queue_text} | {release} |")
    await req.react("eyes")
    await req.reply(messages.reply("**Where can I deploy?**\n\n" + "\n".join(rows)))
    return "wcid"
