"""Which reviews approve a production deployment (runbook: "Code reviewed and approved").

Each reviewer's latest verdict counts, once: an approval, a request for changes or a
dismissal (a plain comment leaves the verdict as it was, as on GitHub). An approval counts
only when it was given on the commit being deployed (unless the environment accepts
approvals on any commit of the pull request), by someone with `write` permission or more,
who is not the pull request's author. A reviewer whose latest verdict requests changes
blocks, whatever the commit. Pure functions of the reviews and permissions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.permissions import at_least

VERDICTS = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})


@dataclass(frozen=True)
class Approval:
    login: str
    commit: str  # the commit the review was given on (`commit_id`)


@dataclass(frozen=True)
class ApprovalCount:
    counted: list[Approval] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)  # latest verdict: changes requested
    # approvals that do not count, each with why
    not_counted: list[tuple[Approval, str]] = field(default_factory=list)


def latest_verdicts(reviews: Sequence[Mapping[str, Any]], author: str | None
                    ) -> dict[str, Mapping[str, Any]]:
    """Each reviewer's (lower-cased login) latest verdict review, the author's left out."""
    ordered = sorted(enumerate(reviews),
                     key=lambda p: (str(p[1].get("submitted_at") or ""), p[0]))
    latest: dict[str, Mapping[str, Any]] = {}
    for _, review in ordered:
        login = str((review.get("user") or {}).get("login") or "")
        if not login or review.get("state") not in VERDICTS:
            continue
        if author and login.lower() == author.lower():
            continue
        latest[login.lower()] = review
    return latest


def approvers(reviews: Sequence[Mapping[str, Any]], author: str | None) -> list[str]:
    """Logins whose latest verdict is an approval: whose permission must be looked up."""
    return sorted(str((r.get("user") or {}).get("login"))
                  for r in latest_verdicts(reviews, author).values()
                  if r.get("state") == "APPROVED")


def count_approvals(reviews: Sequence[Mapping[str, Any]], *, commit: str, author: str | None,
                    permissions: Mapping[str, str], any_commit: bool = False
                    ) -> ApprovalCount:
    """`permissions` maps lower-cased logins to their role (admin … none)."""
    count = ApprovalCount()
    for key, review in sorted(latest_verdicts(reviews, author).items()):
        login = str((review.get("user") or {}).get("login"))
        if review.get("state") == "CHANGES_REQUESTED":
            count.blocking.append(login)
            continue
        if review.get("state") != "APPROVED":
            continue
        approval = Approval(login, str(review.get("commit_id") or ""))
        role = permissions.get(key, "unknown")
        if not at_least(role, "write"):
            count.not_counted.append((approval, f"has {role} permission, not write"))
        elif not any_commit and approval.commit != commit:
            count.not_counted.append(
                (approval, f"approved `{approval.commit[:7] or '?'}`, not `{commit[:7]}`"))
        else:
            count.counted.append(approval)
    return count


def describe(approvals: Sequence[Approval]) -> str:
    """`@bob on abc1234, @dora on abc1234`: who approved which commit."""
    return ", ".join(f"@{a.login} on `{a.commit[:7]}`" for a in approvals)
