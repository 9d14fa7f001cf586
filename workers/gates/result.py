"""A gate's verdict: the structured result every surface renders its own way (the
terminal and the dashboard in workers/gates/render.py and the dashboard's templates, GitHub
here as markdown)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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

    def line(self) -> str:
        box = "x" if self.ok else " "
        mark = " (overridden with --force)" if self.forced else ""
        return f"- [{box}] **{self.title}** — {self.reason}{mark}" + (
            f"<br>↳ {self.fix}" if not self.ok and not self.forced and self.fix else "")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def checklist(results: list[GateResult]) -> str:
    """The checklist as GitHub markdown (comments, check runs)."""
    return "\n".join(r.line() for r in results)


def unmet(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if not r.ok and not r.forced]
