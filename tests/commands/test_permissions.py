"""The permission ladder and the unlock rule, shared by the chat commands and the dashboard."""

from __future__ import annotations

from service.commands.authorization import may_unlock
from service.permissions import at_least, known, rank


def test_the_ladder_orders_github_levels_and_treats_unknown_as_none() -> None:
    assert [rank(p) for p in ("none", "read", "triage", "write", "maintain", "admin")] == [
        0, 1, 2, 3, 4, 5]
    assert rank("push") == rank("none")  # GitHub's old name is mapped where it is read
    assert at_least("admin", "write") and not at_least("triage", "write")
    assert known("maintain") == "maintain" and known("owner") is None


def test_a_lock_is_released_by_its_holder_or_a_maintainer() -> None:
    assert may_unlock("write", holds_it=True)
    assert not may_unlock("write", holds_it=False)
    assert may_unlock("maintain", holds_it=False) and may_unlock("admin", holds_it=False)
