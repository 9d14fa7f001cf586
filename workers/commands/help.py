"""/help: every command, what it does and the permission it needs on this repository."""

from __future__ import annotations

from workers import messages
from workers.commands.base import CommandRequest


async def run_help(req: CommandRequest) -> str:
    await req.react("eyes")
    await req.reply(messages.help_reply(req.config))
    return "help"
