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
    if env.supabase_project_ref:
        return await req.refuse(
            f"`{env.name}` is a Supabase project: leaked password protection is read from its "
            "settings, not confirmed by hand.")
    async with req.ctx.db.connection() as conn:
        await confirmations.record(conn, req.repo, env.name, item, req.user)
    await req.react("+1")
    await req.reply(messages.reply(
        f"✅ Recorded: `{item}` confirmed for `{env.name}` by @{req.user}."))
    return f"confirmed {item} for {env.name}"
