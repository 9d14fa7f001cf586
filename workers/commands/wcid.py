"""/wcid — "what can I deploy": every environment with its lock, its queue, the deployment
running there now and its active release, apart (what runs there vs. what is changing it)."""

from __future__ import annotations

from service.ledger import leases, locks, requests
from service.ledger.deployments import Ledger
from service.ledger.rows import DeploymentRow, RequestRow
from workers import messages
from workers.commands.base import CommandRequest


def _running(r: RequestRow) -> str:
    return messages.WCID_RUNNING.format(
        kind=messages.kind_words(r["kind"]), sha=r["commit_sha"][:7],
        pr=f" from #{r['pr_number']}" if r["pr_number"] else "",
        who=f" by @{r['requested_by']}" if r["requested_by"] else "",
        since=f" since {r['started_at']:%H:%M} UTC" if r.get("started_at") else "")


def _release(last: DeploymentRow | None) -> str:
    if last is None:
        return messages.NOTHING
    return messages.WCID_RELEASE.format(
        sha=last["commit_sha"][:7], pr=f" from #{last['pr_number']}" if last["pr_number"] else "",
        who=f"@{last['requested_by']}" if last["requested_by"] else f"a {last['trigger']}",
        at=last["finished_at"])


async def run_wcid(req: CommandRequest) -> str:
    rows: list[str] = []
    async with req.ctx.db.connection() as conn:
        ledger = Ledger(conn)
        for name in sorted(req.config.environments):
            lock = await locks.lock_of(conn, req.repo, name)
            lease = await leases.holder(conn, req.repo, name)
            active = await requests.active(conn, req.repo, name)
            running = [r for r in active if r["status"] == "running"]
            queued = [r for r in active if r["status"] == "queued"]
            busy = bool(running) or (lease is not None and not lease["expired"])
            if lock is not None:
                state = messages.WCID_LOCKED.format(owner=lock["owner"], pr=lock["pr_number"])
            else:
                state = messages.WCID_BUSY if busy else messages.WCID_FREE
            rows.append(messages.WCID_ROW.format(
                environment=name, state=state,
                queue=", ".join(f"#{r['pr_number'] or '—'} {messages.kind_words(r['kind'])}"
                                for r in queued) or messages.NOTHING,
                now=", ".join(_running(r) for r in running) or messages.NOTHING,
                release=_release(await ledger.last_successful(req.repo, name))))
    await req.react("eyes")
    await req.reply(messages.reply(messages.WCID.format(rows="\n".join(rows))))
    return "wcid"
