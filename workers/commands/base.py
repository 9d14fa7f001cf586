"""What a command runner gets, and the replies every runner shares."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from service.commands.grammar import Command
from service.config.model import Config, EnvironmentConfig
from service.github.client import InstallationClient, ReactionContent
from workers import messages
from workers.commands import replies
from workers.jobs.context import WorkerContext

log = logging.getLogger(__name__)


async def see(client: InstallationClient, repo: str, comment_id: int) -> int | None:
    """Put 👀 on a comment at once (a person sees the bot took it up within moments); the
    reaction's id, or None when GitHub did not take it."""
    try:
        reaction = await client.add_reaction_to_comment(repo, comment_id, "eyes")
    except Exception:
        log.warning("could not react eyes to comment %s", comment_id, exc_info=True)
        return None
    ident = reaction.get("id") if isinstance(reaction, dict) else None
    return int(ident) if isinstance(ident, int) else None


async def unsee(client: InstallationClient,
                repo: str, comment_id: int, reaction_id: int | None) -> None:
    """Take the 👀 back (the command was refused: 😕 alone tells it)."""
    if reaction_id is None:
        return
    try:
        await client.delete_reaction_from_comment(repo, comment_id, reaction_id)
    except Exception:
        log.warning("could not remove the eyes reaction from comment %s", comment_id,
                    exc_info=True)


@dataclass
class CommandRequest:
    ctx: WorkerContext
    client: InstallationClient  # InstallationClient
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
    # The 👀 the handler put on the comment as soon as it knew the commenter may be
    # answered; taken back when the command is refused.
    seen_reaction: int | None = None

    async def reply(self, body: str) -> None:
        await replies.post(self.client, self.repo, self.pr_number, body)

    async def react(self, content: ReactionContent) -> None:
        """A reaction is a courtesy: failing to add one must not stop the command."""
        if content == "eyes" and self.seen_reaction is not None:
            return  # already there
        if content == "confused":
            await unsee(self.client, self.repo, self.comment_id, self.seen_reaction)
            self.seen_reaction = None
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
