"""The (event, action) pairs the workers handle. The intake records and enqueues only these;
everything else is acknowledged with 202 and dropped. The worker's router is checked against
this list by a test, so the two cannot drift apart."""

from __future__ import annotations

HANDLED: dict[str, frozenset[str] | None] = {
    # None: every action (the event has no `action`)
    "issue_comment": frozenset({"created"}),
    "pull_request": frozenset({"closed"}),
    "push": None,
    "check_run": frozenset({"requested_action", "rerequested"}),
    "check_suite": frozenset({"rerequested"}),
}


def is_handled(event: str, action: str | None) -> bool:
    if event not in HANDLED:
        return False
    actions = HANDLED[event]
    return actions is None or action in actions
