"""Deploy windows such as `Mon-Thu 09:00-16:00 America/Toronto`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORM = re.compile(
    r"^\s*(?P<days>[A-Za-z]{3}(?:-[A-Za-z]{3})?(?:,[A-Za-z]{3}(?:-[A-Za-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})\s+(?P<tz>[A-Za-z_]+(?:/[A-Za-z_+-]+)*)\s*$"
)
EXAMPLE = "Mon-Thu 09:00-16:00 America/Toronto"


class WindowError(ValueError):
    pass


def _clock(text: str) -> time:
    h, m = (int(x) for x in text.split(":"))
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise WindowError(f"{text} is not a time of day")
    return time(23, 59, 59) if h == 24 else time(h, m)


@dataclass(frozen=True)
class DeployWindow:
    days: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo
    text: str

    @classmethod
    def parse(cls, text: str) -> DeployWindow:
        m = _FORM.match(text)
        if not m:
            raise WindowError(f"expected a window like {EXAMPLE!r}, got {text!r}")
        days: set[int] = set()
        for part in m.group("days").lower().split(","):
            a, _, b = part.partition("-")
            if a not in DAYS or (b and b not in DAYS):
                raise WindowError(f"unknown day in {part!r}; days are {', '.join(DAYS)}")
            i, j = DAYS.index(a), DAYS.index(b or a)
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        try:  # IANA names are short; a long one only makes the file lookup fail oddly
            if len(m.group("tz")) > 64:
                raise ZoneInfoNotFoundError(m.group("tz"))
            tz = ZoneInfo(m.group("tz"))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise WindowError(f"unknown time zone {m.group('tz')[:64]!r}") from None
        start, end = _clock(m.group("start")), _clock(m.group("end"))
        if start >= end:
            raise WindowError(f"the window must end after it starts: {text!r}")
        return cls(frozenset(days), start, end, tz, text.strip())

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end
