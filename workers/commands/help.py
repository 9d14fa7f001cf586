"""/help: the command list."""

from __future__ import annotations

from workers import messages
from workers.commands.base import CommandRequest


async def run_help(req: CommandRequest) -> str:
    await req.react("eyes")
    await req.reply(messages.HELP)
    return "help"
