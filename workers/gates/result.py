"""A gate's verdict."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateResult:
    key: str  # stable identifier, e.g. "approvals"
    title: str  # the checklist item, as the runbook words it
    ok: bool
    reason: str  # what was found
    fix: str = ""  # how to meet it (when not ok)
    forced: bool = False  # not met, but overridden by an admin's --force --reason

    def line(self) -> str:
        box = "x" if self.ok else " "
        mark = " (overridden with --force)" if self.forced else ""
        return f"- [{box}] **{self.title}** — {self.reason}{mark}" + (
            f"<br>↳ {self.fix}" if not self.ok and not self.forced and self.fix else "")


def checklist(results: list[GateResult]) -> str:
    return "\n".join(r.line() for r in results)


def unmet(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if not r.ok and not r.forced]
