"""Who may run which command: the one authorization rule.

The commenter's permission on the repository (from GitHub, never from the comment) must
reach what the command needs: `write` to deploy, roll back or lock an ordinary environment,
and what the configuration says for production (default `maintain`). Reading commands
need only `read`. Below `read` a commenter gets no answer at all (`answered`)."""

from __future__ import annotations

from service.commands.grammar import Command
from service.config.model import Config
from service.permissions import Permission, at_least, rank

# Who may release a lock they do not hold (another pull request's, another person's).
UNLOCK_OTHERS: Permission = "maintain"


def required(command: Command, config: Config) -> str:
    if command.name in ("wcid", "status", "help"):
        return "read"
    if command.name == "cancel":
        return "triage"  # and only one's own requests: checked where they are withdrawn
    env = config.environment(command.environment or "")
    need = env.required_permission if env is not None else "write"
    if command.force:
        return "admin"  # overriding a gate (the deploy window) is an admin's call
    return need


def allowed(permission: str, command: Command, config: Config) -> bool:
    return rank(permission) >= rank(required(command, config))


def may_unlock(permission: str, *, holds_it: bool) -> bool:
    """A lock is released by whoever holds it, or by a maintainer (or more); reaching the
    unlock command's own permission is checked first, like every command's."""
    return holds_it or at_least(permission, UNLOCK_OTHERS)


def answered(permission: str) -> bool:
    """Whether the bot answers this commenter at all — a parse error, a refusal, anything.
    Below `read` (a stranger on a public repository): no reply and no reaction, so nothing
    of theirs is echoed and nothing tells them what the bot would do."""
    return rank(permission) >= rank("read")
