"""GitHub's repository permission levels, lowest to highest: the one ladder every rule
(commands, the dashboard, approvals, the configuration) compares against."""

from __future__ import annotations

from typing import Literal

Permission = Literal["none", "read", "triage", "write", "maintain", "admin"]
LEVELS: tuple[Permission, ...] = ("none", "read", "triage", "write", "maintain", "admin")
# What a configuration may require (`none` would let strangers deploy).
CONFIGURABLE: tuple[Permission, ...] = LEVELS[1:]


def rank(permission: str) -> int:
    """Its place on the ladder; anything unknown counts as `none`."""
    return LEVELS.index(permission) if permission in LEVELS else 0  # type: ignore[arg-type, unused-ignore]


def at_least(permission: str, level: Permission) -> bool:
    return rank(permission) >= rank(level)


def known(value: object) -> Permission | None:
    """`value` as a permission level, or None when it is not one."""
    for level in LEVELS:
        if value == level:
            return level
    return None
