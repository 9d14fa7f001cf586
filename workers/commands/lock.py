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
            messages.LOCKED_ELSEWHERE.format(
                environment=env.name, owner=held["owner"], pr=held["pr_number"],
                since=held["since"], reason=f" ({code(held['reason'])})" if held["reason"] else ""),
            messages.LOCKED_ELSEWHERE_FIX.format(environment=env.name))
    await req.react("+1")
    await req.reply(messages.reply(messages.LOCKED.format(
        environment=env.name, pr=req.pr_number, user=req.user,
        reason=f": {code(req.command.reason)}" if req.command.reason else "")))
    return f"locked {env.name}"


async def run_unlock(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    async with req.ctx.db.connection() as conn:
        held = await locks.lock_of(conn, req.repo, env.name)
        if held is None:
            await req.react("confused")
            await req.reply(messages.refusal(req.user,
                                             messages.NOT_LOCKED.format(environment=env.name)))
            return "not locked"
        if not may_unlock(req.permission, holds_it=held["pr_number"] == req.pr_number):
            return await req.refuse(messages.NOT_YOUR_LOCK.format(
                environment=env.name, owner=held["owner"], pr=held["pr_number"]))
        await locks.release(conn, req.repo, env.name)
    await req.react("+1")
    await req.reply(messages.reply(messages.UNLOCKED.format(environment=env.name)))
    return f"unlocked {env.name}"
