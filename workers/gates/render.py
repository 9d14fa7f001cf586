"""The checklist's verdict written for where it is shown: plain text for logs and pipes,
coloured text on a terminal, a view the dashboard's template turns into HTML. GitHub's
markdown is `checklist()` in result.py. All of them read the same GateResult list.

Inline `code` in reasons and fixes is kept as backticks in the results (GitHub's form);
here it becomes plain words, bold on a terminal, <code> on the dashboard."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from workers.gates.result import GateResult, unmet

FORCE = '--force --reason "why"'


@dataclass(frozen=True)
class Item:
    title: str
    reason: str
    fix: str  # for the surface the request came from (a terminal or GitHub)


@dataclass(frozen=True)
class Refusal:
    headline: str  # "4 of 9 checklist items do not hold"
    force_note: str  # the way through from a terminal, when --force --reason is one
    failing: list[Item]
    holding: list[str]  # titles of the items that hold (or were overridden)


def results_of(items: Iterable[dict[str, Any]]) -> list[GateResult]:
    """The results as stored in the ledger (`details.checklist.items`)."""
    return [GateResult.from_dict(i) for i in items]


def refusal(results: Sequence[GateResult], source: str = "cli") -> Refusal:
    """What a refused run says. `source` is where the request came from: "cli" gives the
    terminal's fixes, with `--force --reason` first where only it gets past an item."""
    failing = unmet(list(results))
    cli = source == "cli"
    items = [Item(r.title, r.reason, (r.cli_fix or r.fix) if cli else r.fix) for r in failing]
    headline = (f"{len(failing)} of {len(results)} checklist item"
                f"{'s' if len(results) != 1 else ''} "
                f"{'does' if len(failing) == 1 else 'do'} not hold")
    note = ""
    forceable = [r for r in failing if r.forceable]
    if cli and forceable:
        rest = len(failing) - len(forceable)
        which = "it" if len(failing) == 1 else (
            "them all" if not rest else f"{len(forceable)} of them")
        note = (f"From a terminal, `{FORCE}` overrides {which} ("
                + ", ".join(_short(r) for r in forceable)
                + "; admins only, recorded and announced)"
                + (f"; the other {rest} need{'s' if rest == 1 else ''} the fix below."
                   if rest else "."))
    return Refusal(headline, note, items,
                   [r.title for r in results if r.ok or r.forced])


_SHORT = {"approvals": "approvals", "checks": "required checks", "window": "deploy window"}


def _short(r: GateResult) -> str:
    return _SHORT.get(r.key, r.title)


def plain(text: str) -> str:
    """Inline code as plain words: a terminal or a log shows no markdown."""
    return re.sub(r"`([^`]*)`", r"\1", text)


def _styled(text: str, style: str = "") -> Text:
    """Inline code in bold, the rest in `style`."""
    out = Text(style=style)
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        out.append(part, style="bold" if i % 2 else "")
    return out


def log_text(results: Sequence[GateResult], source: str = "cli") -> str:
    """The whole checklist as plain text, for the step's log (terminal, dashboard, check
    run): each item once, with its fix when it does not hold."""
    lines = []
    for r in results:
        mark = "✓" if r.ok else "!" if r.forced else "✗"
        lines.append(f"{mark} {r.title}: {plain(r.reason)}"
                     + (" (overridden with --force)" if r.forced else ""))
        if not r.ok and not r.forced:
            fix = (r.cli_fix or r.fix) if source == "cli" else r.fix
            if fix:
                lines.append(f"    fix: {plain(fix)}")
    return "\n".join(lines)


def terminal(results: Sequence[GateResult], source: str = "cli") -> Text:
    """The refusal for a terminal: coloured where the console is one, plain text through a
    pipe (rich drops the styles)."""
    r = refusal(results, source)
    out = Text()
    out.append(f"refused: {r.headline} — nothing ran, nothing changed\n", style="bold red")
    if r.force_note:
        out.append_text(_styled(r.force_note, "yellow"))
        out.append("\n")
    for item in r.failing:
        out.append("✗ ", style="red")
        out.append(plain(item.title), style="bold")
        out.append("\n    found: ")
        out.append_text(_styled(item.reason))
        if item.fix:
            out.append("\n    fix:   ")
            out.append_text(_styled(item.fix, "green"))
        out.append("\n")
    for title in r.holding:
        out.append(f"✓ {plain(title)}\n", style="dim")
    out.rstrip()
    return out
