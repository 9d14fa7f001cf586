"""Times and durations as the dashboard shows them: UTC, with a relative hint."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_short(value: datetime | None) -> str:
    """To the minute, for lists and cards (the exact second is in the tooltip)."""
    return utc(value)[:16] + " UTC" if value is not None else ""


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """"just now", "3 min ago", "2 h ago", "5 days ago" (or "in …" for the future)."""
    if value is None:
        return ""
    now = now or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        text = f"{round(seconds / 60)} min"
    elif seconds < 86400:
        text = f"{round(seconds / 3600)} h"
    elif seconds < 86400 * 60:
        days = round(seconds / 86400)
        text = f"{days} day{'s' if days != 1 else ''}"
    else:
        months = round(seconds / (86400 * 30))
        text = f"{months} months"
    return f"in {text}" if future else f"{text} ago"


def duration(seconds: float | None) -> str:
    """1.2 s, 42 s, 3 m 05 s, 1 h 02 m."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
