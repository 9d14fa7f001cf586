"""Read `deno test --junit-path` reports: which tests ran, which failed, and where.

The report is written inside the sandbox, where the tests themselves could overwrite it, so
it is read as untrusted input: bounded in size, malformed is "no report", and it can only
describe its own commit's tests (the exit code decides pass or fail, not the report).
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MAX_REPORT_BYTES = 5 * 1024 * 1024
_STEPS_FAILED = re.compile(r"^\d+ test steps? failed")
_SHOWN = 300  # characters of a failure message kept for a check-run annotation


@dataclass(frozen=True)
class TestFailure:
    name: str  # "outer > step" for a failed step
    path: str  # repository-relative file of the test
    line: int  # the failing line when the stack shows it, else where the test is declared
    message: str  # the first line(s) of the error, shortened


@dataclass(frozen=True)
class TestReport:
    total: int = 0
    failed: tuple[TestFailure, ...] = ()
    skipped: int = 0

    @property
    def passed(self) -> int:
        return self.total - len(self.failed) - self.skipped

    def __add__(self, other: TestReport) -> TestReport:
        return TestReport(self.total + other.total, self.failed + other.failed,
                          self.skipped + other.skipped)


def _parse(text: bytes) -> ET.Element | None:
    # ElementTree resolves no external entities and Python's expat (>= 2.4.1) refuses
    # entity-expansion bombs; the size is bounded by the caller.
    try:
        return ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        return None


def _failure_line(text: str, sandbox_path: str, declared: int) -> int:
    """The line of `sandbox_path` where the error was raised (the first stack frame in the
    test file), else the line the test is declared on."""
    frame = re.search(re.escape(f"file://{sandbox_path}") + r":(\d+):\d+", text)
    return int(frame.group(1)) if frame else declared


def _summary(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = " ".join(lines[:3]).removeprefix("Uncaught ")
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def read_report(report: Path, *, repo_dir: str, sandbox_dir: str) -> TestReport | None:
    """The tests of one `deno test` run. Paths in the report are relative to the directory
    the run started in: `repo_dir` in the repository, `sandbox_dir` inside the sandbox.
    None when there is no readable report (the run died before writing it)."""
    try:
        if not report.is_file() or report.stat().st_size > MAX_REPORT_BYTES:
            return None
        root = _parse(report.read_bytes())
    except OSError:
        return None
    if root is None:
        return None
    total = skipped = 0
    failed: list[TestFailure] = []
    for case in root.iter("testcase"):
        total += 1
        if case.find("skipped") is not None:
            skipped += 1
            continue
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is None:
            continue
        if _STEPS_FAILED.match(failure.get("message") or ""):
            total -= 1  # a test whose steps failed: only the steps count, as failures
            continue
        relative = posixpath.normpath(case.get("classname") or "")
        path = posixpath.normpath(posixpath.join(repo_dir, relative))
        declared = int(case.get("line") or 0) if (case.get("line") or "").isdigit() else 0
        details = failure.text or ""
        failed.append(TestFailure(
            name=case.get("name") or "(unnamed test)",
            path=path,
            line=_failure_line(details, posixpath.join(sandbox_dir, relative), declared) or 1,
            message=_summary(failure.get("message") or details or "failed"),
        ))
    return TestReport(total=total, failed=tuple(failed), skipped=skipped)
