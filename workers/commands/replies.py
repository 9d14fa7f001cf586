"""Posting the bot's replies: a refusal given before, for the same reason to the same person,
is edited (with how many times it was asked) rather than posted again, so a pull request
does not fill with copies of one answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workers import messages


def _ours(comment: dict[str, Any]) -> bool:
    user = comment.get("user") or {}
    return user.get("type") == "Bot" or str(user.get("login") or "").endswith("[bot]")


async def post(client: Any, repo: str, pr_number: int, body: str) -> None:
    """Post `body` on the pull request; a refusal already there is edited instead."""
    key = messages.refusal_key_of(body)
    if key is not None:
        earlier = [c for c in await client.list_comments(repo, pr_number)
                   if _ours(c) and messages.refusal_key_of(c.get("body") or "") == key]
        if earlier:
            last = earlier[-1]
            times = messages.times_of(str(last.get("body") or "")) + 1
            await client.update_comment(repo, int(last["id"]),
                                        messages.repeated(body, times, datetime.now(UTC)))
            return
    await client.create_comment(repo, pr_number, body)
