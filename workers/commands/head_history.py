"""Which commit a `/deploy` comment saw, judged from when the pull request's head changed.

Commit and committer dates are written by whoever pushes (`GIT_COMMITTER_DATE`), so they
say nothing about when a commit arrived. What does: GitHub's time of each `pull_request`
event (or our time of its delivery), a head the bot saw itself, and GitHub's time of each
force push in the pull request's timeline. A comment's head is the head after the last
change strictly before it; a change in the same second is not known to be before it.

Pure functions: the deploy runner gathers the changes and acts on the verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

FULL_SHA_LENGTHS = (40, 64)


@dataclass(frozen=True)
class HeadChange:
    at: datetime
    sha: str | None  # the new head; None when the source does not say (a force push)
    source: str  # opened | synchronize | reopened | observed | force-push


@dataclass(frozen=True)
class SeenHead:
    """`sha` to deploy, or why not: `moved` (the head changed at or after the comment) or
    `unknown` (nothing shows which commit was the head when it was written)."""

    verdict: Literal["ok", "moved", "unknown"]
    sha: str | None = None


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def force_pushes(timeline: Iterable[Mapping[str, Any]]) -> list[HeadChange]:
    """The timeline's `head_ref_force_pushed` events, at GitHub's time of each."""
    changes = []
    for event in timeline:
        if event.get("event") != "head_ref_force_pushed":
            continue
        at = _parse(event.get("created_at"))
        if at is None:
            continue
        sha = event.get("commit_id")
        changes.append(HeadChange(at, sha if isinstance(sha, str) and sha else None,
                                  "force-push"))
    return changes


def timeline_commits(timeline: Iterable[Mapping[str, Any]]) -> list[str]:
    """The commits the pull request holds (its `committed` events), in timeline order."""
    return [str(e["sha"]) for e in timeline
            if e.get("event") == "committed" and isinstance(e.get("sha"), str)]


def head_at_comment(comment_at: datetime, current: str, changes: Sequence[HeadChange]
                    ) -> SeenHead:
    """The head when the comment was written, if it is still the head now (`current`, read
    from GitHub after the comment)."""
    ordered = sorted(changes, key=lambda c: c.at)
    before = [c for c in ordered if c.at < comment_at and c.sha is not None]
    # A force push that does not name its commit tells only when the head changed: after
    # the comment it is a move; before it, the records that name commits decide.
    after = [c for c in ordered if c.at >= comment_at]
    seen = before[-1].sha if before else None
    if any(c.sha is None or c.sha != seen for c in after):
        return SeenHead("moved")
    if seen is None or seen != current:
        # Nothing recorded before the comment, or a change of head not recorded yet (its
        # delivery is late or lost): which side of the comment it fell on is unknown.
        return SeenHead("unknown")
    return SeenHead("ok", seen)


@dataclass(frozen=True)
class Pin:
    """A `/deploy <env> <sha>` resolved against the pull request's commits: `sha` or
    `problem` (a sentence for the reply)."""

    sha: str | None = None
    problem: str | None = None


def resolve_pin(written: str, commits: Iterable[str], *, pr_number: int, comment_at: datetime,
                changes: Sequence[HeadChange]) -> Pin:
    """The one commit of the pull request that `written` (full or abbreviated) names.

    An abbreviation is refused when the branch changed at or after the comment: seven hex
    digits are 28 bits, and a commit made to share them can be pushed after the comment."""
    pin = written.lower()
    matches = sorted({c for c in commits if c.startswith(pin)})
    if not matches:
        return Pin(problem=f"`{written}` is not a commit of #{pr_number}.")
    if len(matches) > 1:
        return Pin(problem=f"`{written}` names {len(matches)} commits of #{pr_number} ("
                   + ", ".join(f"`{m[:12]}`" for m in matches[:5]) + ").")
    if len(pin) not in FULL_SHA_LENGTHS and any(c.at >= comment_at for c in changes):
        return Pin(problem=f"the branch of #{pr_number} changed after your comment, so the "
                   f"abbreviated `{written}` may not name the commit you saw.")
    return Pin(sha=matches[0])
