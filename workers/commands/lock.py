"""/lock <env> [reason] and /unlock <env>: keep an environment for one pull request."""

from __future__ import annotations

from service.commands.authorization import may_unlock
from service.commands.echo import code
from service.ledger import locks
from workers import messages
from workers.commands.base import CommandRequest


async def run_lock(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    async with req.ctx.db.connection() as conn:
        held = await locks.take(conn, req.repo, env.name, owner=req.user,
                                pr_number=req.pr_number, reason=req.command.reason)
    if held["pr_number"] != req.pr_number:
        return await req.refuse(
            f"`{env.name}` is already locked by @{held['owner']} for #{held['pr_number']}"
            f" since {held['since']:%Y-%m-%d %H:%M} UTC"
            + (f" ({code(held['reason'])})" if held["reason"] else "") + ".",
            f"Ask them to `/unlock {env.name}` there.")
    await req.react("+1")
    await req.reply(messages.reply(
        f"🔒 `{env.name}` is locked for #{req.pr_number} by @{req.user}"
        + (f": {code(req.command.reason)}" if req.command.reason else "")
        + f". Other pull requests cannot deploy there until `/unlock {env.name}`."))
    return f"locked {env.name}"


async def run_unlock(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    async with req.ctx.db.connection() as conn:
        held = await locks.lock_of(conn, req.repo, env.name)
        if held is None:
            await req.react("confused")
            await req.reply(messages.refusal(req.user, f"`{env.name}` is not locked."))
            return "not locked"
        if not may_unlock(req.permission, holds_it=held["pr_number"] == req.pr_number):
            return await req.refuse(
                f"`{env.name}` is locked by @{held['owner']} for #{held['pr_number']}; only "
                "they (from that pull request) or a maintainer can unlock it.")
        await locks.release(conn, req.repo, env.name)
    await req.react("+1")
    await req.reply(messages.reply(f"🔓 `{env.name}` is unlocked."))
    return f"unlocked {env.name}"
