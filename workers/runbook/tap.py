"""Read TAP (Test Anything Protocol): what test files print through pgTAP, or through psql.

    1..3
    ok 1 - anon cannot read quotes
    not ok 2 - customers see only their quotes # 2 rows of another customer were visible
    # a diagnostic line

A run passes only when it has a plan, every planned test reported `ok` (or is a TODO),
nothing reported twice or beyond the plan, no `Bail out!`, and psql printed no ERROR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_PLAN = re.compile(r"^1\.\.(\d+)(?:\s*#\s*(.*))?$")
_RESULT = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
_DIRECTIVE = re.compile(r"^(SKIP|TODO)\S*\s*(.*)$", re.IGNORECASE)
_BAIL = re.compile(r"^Bail out!\s*(.*)$")
# psql prefixes server messages with "psql:<file>:<line>: " and may emit TAP from RAISE NOTICE.
_PSQL_PREFIX = re.compile(r"^psql:[^:]*:\d+:\s*")
_NOTICE = re.compile(r"^(?:NOTICE|INFO):\s+")
_ERROR = re.compile(r"^(?:ERROR|FATAL|PANIC):\s+")


@dataclass
class TapTest:
    number: int
    ok: bool
    name: str
    reason: str = ""  # the text after " # " on a failing line
    directive: str = ""  # "SKIP" or "TODO"
    diagnostics: list[str] = field(default_factory=list)
    source_line: int | None = None  # the line of the test file that printed it, when known

    @property
    def failed(self) -> bool:
        return not self.ok and self.directive != "TODO"

    def failure(self) -> str:
        return f"not ok {self.number} - {self.name}" + (f" ({self.reason})" if self.reason
                                                        else "")

    def line(self) -> str:
        mark = "ok" if self.ok else "not ok"
        tail = f" # {self.directive} {self.reason}".rstrip() if self.directive else (
            f" # {self.reason}" if self.reason else "")
        return f"{mark} {self.number} - {self.name}{tail}"


@dataclass
class TapReport:
    plan: int | None = None
    tests: list[TapTest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # psql ERROR lines
    bail_out: str | None = None
    duplicates: list[int] = field(default_factory=list)

    @property
    def failures(self) -> list[TapTest]:
        return [t for t in self.tests if t.failed]

    @property
    def missing(self) -> list[int]:
        if self.plan is None:
            return []
        seen = {t.number for t in self.tests}
        return [n for n in range(1, self.plan + 1) if n not in seen]

    @property
    def extra(self) -> list[int]:
        if self.plan is None:
            return []
        return sorted({t.number for t in self.tests if t.number > self.plan})

    def problems(self, *, failures: bool = True) -> list[str]:
        """Why the run does not pass, one line each (empty: it passes)."""
        out = [t.failure() for t in self.failures] if failures else []
        if self.plan is None:
            out.append("no plan line (1..N): the suite did not run to its start or end")
        if self.missing:
            out.append(f"{len(self.missing)} of {self.plan} planned tests reported nothing: "
                       + _ranges(self.missing))
        if self.extra:
            out.append(f"tests beyond the plan of {self.plan}: {_ranges(self.extra)}")
        if self.duplicates:
            out.append(f"tests reported more than once: {_ranges(sorted(set(self.duplicates)))}")
        if self.bail_out is not None:
            out.append(f"Bail out! {self.bail_out}".rstrip())
        out += [f"psql: {e}" for e in self.errors]
        return out

    @property
    def passed(self) -> bool:
        return not self.problems()


def parse(stdout: str, stderr: str = "") -> TapReport:
    """Parse TAP from psql's output; stderr contributes ERROR lines (and TAP sent as
    NOTICEs)."""
    lines: list[tuple[bool, str, int | None]] = [(False, ln, None) for ln in stdout.splitlines()]
    lines += [(True, ln, None) for ln in stderr.splitlines()]
    return _parse(lines)


def parse_located(output: Iterable[tuple[str, int]]) -> TapReport:
    """Parse TAP printed by a test file's statements: (text, the line of the file where the
    statement that printed it starts). A text may hold several lines."""
    return _parse([(False, ln, line) for text, line in output for ln in text.splitlines()])


def _parse(lines: list[tuple[bool, str, int | None]]) -> TapReport:
    report = TapReport()
    last: TapTest | None = None
    numbers: set[int] = set()
    for index, (from_stderr, raw, source_line) in enumerate(lines):
        if from_stderr and (index == 0 or not lines[index - 1][0]):
            last = None  # diagnostics do not cross from one stream to the other
        line = _PSQL_PREFIX.sub("", raw.strip())
        if _ERROR.match(line):
            report.errors.append(line)
            last = None
            continue
        line = _NOTICE.sub("", line).strip()
        if m := _PLAN.match(line):
            report.plan = int(m.group(1))
        elif m := _RESULT.match(line):
            number = int(m.group(2)) if m.group(2) else len(report.tests) + 1
            test = _result(m.group(1) == "ok", number, m.group(3))
            test.source_line = source_line
            if number in numbers:
                report.duplicates.append(number)
            numbers.add(number)
            report.tests.append(test)
            last = test
        elif m := _BAIL.match(line):
            report.bail_out = m.group(1)
        elif line.startswith("#") and last is not None:
            last.diagnostics.append(line.lstrip("# ").rstrip())
    return report


def _result(ok: bool, number: int, rest: str) -> TapTest:
    name, sep, comment = rest.partition(" # ")
    if not sep and rest.startswith("# "):
        name, comment = "", rest[2:]
    test = TapTest(number=number, ok=ok, name=name.strip())
    comment = comment.strip()
    if m := _DIRECTIVE.match(comment):
        test.directive, test.reason = m.group(1).upper(), m.group(2).strip()
    else:
        test.reason = comment
    return test


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 7 → "1-3, 7"."""
    parts: list[str] = []
    start = prev = None
    for n in [*numbers, None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ", ".join(parts)
