"""The (event, action) pairs the workers handle. The intake records and enqueues only these;
everything else is acknowledged with 202 and dropped. The worker's router is checked against
this list by a test, so the two cannot drift apart."""

from __future__ import annotations

from service.commands.grammar import Command, parse

HANDLED: dict[str, frozenset[str] | None] = {
    # None: every action (the event has no `action`)
    "issue_comment": frozenset({"created"}),
    # closed: merges deploy; opened/synchronize/reopened: the head is recorded, so a
    # `/deploy` knows which commit its comment saw.
    "pull_request": frozenset({"closed", "opened", "synchronize", "reopened"}),
    "push": None,
    "check_run": frozenset({"requested_action", "rerequested"}),
    "check_suite": frozenset({"rerequested"}),
}


def is_handled(event: str, action: str | None) -> bool:
    if event not in HANDLED:
        return False
    actions = HANDLED[event]
    return actions is None or action in actions


# Commands that deploy or roll back: handled before chatter that arrived earlier.
_URGENT_COMMANDS = frozenset({"deploy", "rollback", "cancel"})


def is_urgent(event: str, comment_body: str | None) -> bool:
    """A delivery that may start, stop or undo a deployment: in a burst of webhooks it goes
    ahead of comments and commands that only answer (benchmarks/webhook_burst.py)."""
    if event != "issue_comment":
        return True  # merges, pushes, Retry and Roll back buttons
    command = parse(comment_body) if comment_body is not None else None
    return isinstance(command, Command) and command.name in _URGENT_COMMANDS
