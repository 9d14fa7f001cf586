"""/confirm <env> leaked-password-protection: record a checklist item confirmed by hand
(where no API can check it), with who and when."""

from __future__ import annotations

from service.ledger import confirmations
from workers import messages
from workers.commands.base import CommandRequest


async def run_confirm(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    item = req.command.item or ""
    async with req.ctx.db.connection() as conn:
        await confirmations.record(conn, req.repo, env.name, item, req.user)
    await req.react("+1")
    # A hosted project's setting is read from Supabase; a confirmation counts only while its
    # plan cannot have the protection (the Management API's 402).
    note = (messages.CONFIRMED_HOSTED.format(environment=env.name)
            if env.supabase_project_ref else "")
    await req.reply(messages.reply(messages.CONFIRMED.format(
        item=item, environment=env.name, user=req.user, note=note)))
    return f"confirmed {item} for {env.name}"
