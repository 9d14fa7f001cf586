"""What a command runner gets, and the replies every runner shares."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.commands.grammar import Command
from service.config.model import Config, EnvironmentConfig
from workers import messages
from workers.jobs.context import WorkerContext

log = logging.getLogger(__name__)


@dataclass
class CommandRequest:
    ctx: WorkerContext
    client: Any  # InstallationClient
    repo: str
    installation_id: int
    pr_number: int
    comment_id: int
    comment_created_at: datetime
    user: str
    permission: str
    command: Command
    config: Config
    delivery_id: str

    async def reply(self, body: str) -> None:
        await self.client.create_comment(self.repo, self.pr_number, body)

    async def react(self, content: str) -> None:
        """A reaction is a courtesy: failing to add one must not stop the command."""
        try:
            await self.client.add_reaction_to_comment(self.repo, self.comment_id, content)
        except Exception:
            log.warning("could not react %s to comment %s", content, self.comment_id,
                        exc_info=True)

    async def refuse(self, problem: str, fix: str = "") -> str:
        await self.react("confused")
        await self.reply(messages.refusal(self.user, problem, fix))
        return f"refused: {problem}"

    async def environment(self) -> EnvironmentConfig | None:
        """The command's environment, or None after telling the person which exist."""
        name = self.command.environment or ""
        env = self.config.environment(name)
        if env is None:
            await self.react("confused")
            await self.reply(messages.unknown_environment(
                self.user, name, sorted(self.config.environments), self.config.source))
        return env


CommandRunner = Callable[[CommandRequest], Awaitable[str]]
