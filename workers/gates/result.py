"""A gate's verdict: the structured result every surface renders its own way — the
checklist as a table of states on GitHub (here), one line per item in logs, plain text or
colour on the terminal and HTML on the dashboard (workers/gates/render.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STATE_HOLDS = "✅ holds"
STATE_FORCED = "⚠️ overridden with `--force`"
STATE_UNMET = "❌ does not hold"
TABLE_HEAD = "| checklist item | state | what to do |\n|---|---|---|"
ROW = "| **{title}** | {state}: {reason} | {fix} |"


@dataclass(frozen=True)
class GateResult:
    key: str  # stable identifier, e.g. "approvals"
    title: str  # the checklist item, as the runbook words it
    ok: bool
    reason: str  # what was found
    fix: str = ""  # how to meet it (when not ok), from the pull request
    forced: bool = False  # not met, but overridden by an admin's --force --reason
    # How to meet it from a terminal (`deploybot …`), where that differs from `fix`.
    cli_fix: str = ""
    # `--force --reason` from a terminal overrides it (approvals, checks, deploy window).
    forceable: bool = False

    @property
    def state(self) -> str:
        return STATE_HOLDS if self.ok else STATE_FORCED if self.forced else STATE_UNMET

    def line(self) -> str:
        """The item as a line of text (logs, the terminal)."""
        mark = "✓" if self.ok else "!" if self.forced else "✗"
        forced = " (overridden with --force)" if self.forced else ""
        todo = f" → {self.fix}" if not self.ok and not self.forced and self.fix else ""
        return f"{mark} {self.title} — {self.reason}{forced}{todo}"

    def row(self) -> str:
        """The item as a row of the checklist table (GitHub)."""
        fix = self.fix if not self.ok and not self.forced else ""
        return ROW.format(title=_cell(self.title), state=self.state,
                          reason=_cell(self.reason), fix=_cell(fix) or "—")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def checklist(results: list[GateResult]) -> str:
    """One line per item (logs, the terminal)."""
    return "\n".join(r.line() for r in results)


def checklist_table(results: list[GateResult]) -> str:
    """The checklist for GitHub: item | state | what to do, unmet items first."""
    ordered = sorted(results, key=lambda r: r.ok or r.forced)
    return "\n".join([TABLE_HEAD, *(r.row() for r in ordered)])


def unmet(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if not r.ok and not r.forced]
