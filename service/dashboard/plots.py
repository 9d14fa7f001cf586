"""The history plot, drawn on the server as SVG: deployment duration over time (a point per
deployment, coloured by outcome, linking to it) above the failure rate per period.
Colours come from the page's stylesheet (classes), so the plot follows its theme."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from service.dashboard.timefmt import duration, utc

OK = {"succeeded", "up_to_date", "planned"}
FAILED = {"failed", "rolled_back", "rollback_failed"}

WIDTH, PANEL_H, GAP = 960, 180, 56
LEFT, RIGHT, TOP = 64, 20, 28


@dataclass(frozen=True)
class Point:
    id: int
    at: datetime  # when the deployment started
    seconds: float
    outcome: str  # the deployment's status
    label: str  # environment and kind, for the tooltip


def outcome_class(status: str) -> str:
    if status in OK:
        return "ok"
    if status == "rolled_back":
        return "undone"
    if status in FAILED:
        return "bad"
    return "other"


_SECOND_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def _seconds_step(top: float, most: int = 5) -> float:
    """A tick step in round units of time (seconds, minutes, hours) for values up to top."""
    return float(next((s for s in _SECOND_STEPS if top / s <= most), _SECOND_STEPS[-1]))


def _tick_label(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        m, s = divmod(int(seconds), 60)
        return f"{m} min" if not s else f"{m} m {s:02d} s"
    h, rest = divmod(int(seconds), 3600)
    return f"{h} h" if not rest else f"{h} h {rest // 60:02d} m"


_TIME_STEPS = [timedelta(minutes=m) for m in (1, 5, 15, 30)] + \
    [timedelta(hours=h) for h in (1, 3, 6, 12)] + [timedelta(days=d) for d in (1, 2, 7, 14, 30)]


def _time_ticks(start: datetime, end: datetime, most: int = 8) -> tuple[list[datetime], str]:
    span = max(end - start, timedelta(minutes=1))
    step = next((s for s in _TIME_STEPS if span / s <= most), timedelta(days=90))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + step * math.ceil((start - epoch) / step)
    ticks = []
    t = first
    while t <= end:
        ticks.append(t)
        t += step
    fmt = "%b %d" if step >= timedelta(days=1) else "%H:%M" if span <= timedelta(days=1) \
        else "%b %d %H:%M"
    return ticks, fmt


def _period(span: timedelta) -> timedelta:
    if span <= timedelta(days=2):
        return timedelta(hours=1)
    if span <= timedelta(days=60):
        return timedelta(days=1)
    return timedelta(days=7)


def history_svg(points: list[Point], *, now: datetime | None = None) -> str:
    if not points:
        return ('<svg class="plot" viewBox="0 0 960 80" role="img" '
                'aria-label="no finished deployments yet"><text x="480" y="45" '
                'class="plot-empty" text-anchor="middle">No finished deployments yet</text>'
                '</svg>')
    points = sorted(points, key=lambda p: p.at)
    start, end = points[0].at, max(points[-1].at, now or points[-1].at)
    if end - start < timedelta(minutes=10):  # a little room either side of a short history
        mid = start + (end - start) / 2
        start, end = mid - timedelta(minutes=5), mid + timedelta(minutes=5)
    plot_w = WIDTH - LEFT - RIGHT
    height = TOP + PANEL_H + GAP + PANEL_H + 36

    def x(t: datetime) -> float:
        return LEFT + plot_w * ((t - start) / (end - start))

    out = [f'<svg class="plot" viewBox="0 0 {WIDTH} {height}" role="img" '
           'aria-label="deployment duration and failure rate over time" '
           'xmlns="http://www.w3.org/2000/svg">']
    ticks, fmt = _time_ticks(start, end)

    # Panel 1: duration of each deployment.
    top1 = TOP
    step = _seconds_step(max(p.seconds for p in points) * 1.05)
    ymax = step * max(1, math.ceil(max(p.seconds for p in points) * 1.05 / step))

    def y1(v: float) -> float:
        return top1 + PANEL_H * (1 - v / ymax)

    out.append(f'<text x="{LEFT}" y="{top1 - 10}" class="plot-title">Duration</text>')
    for i in range(round(ymax / step) + 1):
        v = step * i
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y1(v):.1f}" y2="{y1(v):.1f}" '
                   'class="grid"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y1(v) + 4:.1f}" class="axis" text-anchor="end">'
                   f'{escape(_tick_label(v))}</text>')
    line = " ".join(f"{x(p.at):.1f},{y1(p.seconds):.1f}" for p in points)
    out.append(f'<polyline points="{line}" class="trend"/>')
    for p in points:
        tip = (f"#{p.id} {p.label} — {p.outcome.replace('_', ' ')} in {duration(p.seconds)}, "
               f"{utc(p.at)}")
        out.append(f'<a href="/deployments/{p.id}"><circle cx="{x(p.at):.1f}" '
                   f'cy="{y1(p.seconds):.1f}" r="5" class="pt pt-{outcome_class(p.outcome)}">'
                   f'<title>{escape(tip)}</title></circle></a>')

    # Panel 2: failure rate per period.
    top2 = TOP + PANEL_H + GAP

    def y2(rate: float) -> float:
        return top2 + PANEL_H * (1 - rate)

    period = _period(end - start)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    buckets: dict[datetime, list[Point]] = {}
    for p in points:
        if p.outcome in OK or p.outcome in FAILED:
            b = epoch + period * math.floor((p.at - epoch) / period)
            buckets.setdefault(b, []).append(p)
    per = {"1:00:00": "hour", "1 day, 0:00:00": "day"}.get(str(period), "week")
    out.append(f'<text x="{LEFT}" y="{top2 - 10}" class="plot-title">Failure rate per {per}'
               '</text>')
    for i in range(5):
        rate = i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y2(rate):.1f}" '
                   f'y2="{y2(rate):.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y2(rate) + 4:.1f}" class="axis" '
                   f'text-anchor="end">{round(rate * 100)}%</text>')
    rates = []
    for b in sorted(buckets):
        group = buckets[b]
        failed = sum(1 for p in group if p.outcome in FAILED)
        # The part of the period the plot shows: a period longer than the whole history
        # (one hour around a few minutes of deployments) is drawn across it, its dot in the
        # middle, not at the edge where the period's own middle would clip it.
        lo, hi = max(b, start), min(b + period, end)
        rates.append((lo, hi, lo + (hi - lo) / 2, failed / len(group), failed, len(group), b))
    if len(rates) > 1:
        line = " ".join(f"{x(c):.1f},{y2(r):.1f}" for _, _, c, r, *_ in rates)
        out.append(f'<polyline points="{line}" class="rate"/>')
    for lo, hi, c, r, failed, total, b in rates:
        tip = f"{failed} of {total} failed, period from {utc(b)}"
        cls = "bad" if failed else "ok"
        out.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y2(r):.1f}" '
                   f'y2="{y2(r):.1f}" class="rate-span"/>')
        out.append(f'<circle cx="{x(c):.1f}" cy="{y2(r):.1f}" r="4" class="pt pt-{cls}">'
                   f'<title>{escape(tip)}</title></circle>')

    # The shared time axis, under each panel.
    for base in (top1 + PANEL_H, top2 + PANEL_H):
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" '
                   'class="axis-line"/>')
        for t in ticks:
            out.append(f'<text x="{x(t):.1f}" y="{base + 18}" class="axis" '
                       f'text-anchor="middle">{escape(t.strftime(fmt))}</text>')
    out.append(f'<text x="{WIDTH - RIGHT}" y="{height - 4}" class="axis" text-anchor="end">'
               'times in UTC</text>')
    out.append("</svg>")
    return "".join(out)
