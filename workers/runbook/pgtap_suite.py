"""The pgTAP suite of the pinned commit: which files, and running them against a database
(workers/runbook/pgtap.py). Shared by `verify`, which runs it after the deployment's
changes, and `migrate`, which runs it inside the transaction that holds the migrations and
commits only when it passed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from service.bounded_input import InputRefused, read_bounded
from workers.drivers.interfaces import DatabaseUnavailable, TransactionLost
from workers.runbook import pgtap
from workers.runbook.context import DeployContext
from workers.runbook.step import StepFailed

SECURITY_STOP = "RLS test fails (security vulnerability)"
UNREACHABLE = "database connection issues"
SUITE_TIMEOUT = 600  # seconds; the tests' own lock timeouts keep them far below this
MAX_TEST_FILE_BYTES = 1024 * 1024  # each file is read whole: bounded input


def find(ctx: DeployContext) -> list[Path] | str:
    """The test files, or why no tests run (a sentence); StepFailed for files that cannot
    be run or a configured path that is not there."""
    relpath = ctx.config.paths.tests
    commit = ctx.source.commit[:12]
    if not ctx.source.path(relpath).exists():
        if "tests" in ctx.config.paths_set:  # a path someone wrote down must be there
            raise StepFailed(
                f"the tests {relpath} do not exist at {commit}: add them, or point "
                f"paths.tests in .github/deploybot.yml at the pgTAP file or directory")
        return f"no tests ran: {relpath} does not exist at {commit}"
    files = pgtap.test_files(ctx.source.root, relpath)
    if not files:
        return (f"no tests ran: {relpath} holds no pgTAP files "
                f"({', '.join('*' + s for s in pgtap.TEST_SUFFIXES)})")
    for path in files:  # pull-request input: bounded like the configuration
        rel = path.relative_to(ctx.source.root).as_posix()
        try:
            read_bounded(path, MAX_TEST_FILE_BYTES, rel)
        except InputRefused as exc:
            raise StepFailed(str(exc)) from None
        except UnicodeDecodeError as exc:
            raise StepFailed(f"{rel} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                             "save it as UTF-8") from None
    return files


@dataclass(frozen=True)
class SuiteResult:
    summary: str  # "82/82 tests passed in 1 file(s) (pgTAP … from …)"
    failure: StepFailed | None  # the security stop, when a test failed or a file stopped


async def run(ctx: DeployContext, db: pgtap.TestDatabase, files: list[Path]) -> SuiteResult:
    """Run every file, each rolled back, logging each file's TAP to the current step."""
    env = ctx.environment.config
    seed = _seed(ctx)
    results: list[pgtap.FileResult] = []
    try:
        source = await pgtap.locate(db)
        await ctx.progress(f"running {len(files)} test file(s) from {ctx.config.paths.tests} "
                           f"({source.describe()})")
        async with asyncio.timeout(SUITE_TIMEOUT):
            for path in files:
                try:
                    result = await pgtap.run_file(
                        db, ctx.source.root, path, source,
                        lock_timeout_ms=env.lock_timeout_ms,
                        statement_timeout_ms=env.statement_timeout_ms, seed=seed)
                except TransactionLost as exc:  # name the file that did it
                    rel = path.relative_to(ctx.source.root).as_posix()
                    raise TransactionLost(f"{rel}: {exc}",
                                          maybe_committed=exc.maybe_committed) from exc
                results.append(result)
                await ctx.output(_log(result))
    except DatabaseUnavailable as exc:
        raise StepFailed(f"lost the database while running the tests: {exc}",
                         stop_the_line=UNREACHABLE) from None
    except TimeoutError:
        raise StepFailed(f"the tests did not finish within {SUITE_TIMEOUT} s",
                         stop_the_line=SECURITY_STOP) from None
    tests = [t for r in results for t in r.report.tests]
    passed = sum(1 for t in tests if not t.failed)
    summary = (f"{passed}/{len(tests)} tests passed in {len(results)} file(s) "
               f"({source.describe()})")
    problems = [p for r in results for p in r.problems()]
    if not problems:
        return SuiteResult(summary, None)
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                       if len(problems) > 5 else "")
    return SuiteResult(summary, StepFailed(
        f"tests failed: {shown}", output="\n".join(problems),
        annotations=[a for r in results for a in r.annotations()][:50],
        stop_the_line=SECURITY_STOP))


def _seed(ctx: DeployContext) -> pgtap.Seed | None:
    """paths.test_seed, read and checked; None when unset."""
    relpath = ctx.config.paths.test_seed
    if not relpath:
        return None
    path = ctx.source.path(relpath)
    if not path.is_file():
        raise StepFailed(f"the test seed {relpath} does not exist at {ctx.source.commit[:12]}: "
                         "add it, or remove paths.test_seed from .github/deploybot.yml")
    try:
        text = read_bounded(path, MAX_TEST_FILE_BYTES, relpath)
        return pgtap.prepare_seed(relpath, text)
    except InputRefused as exc:
        raise StepFailed(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise StepFailed(f"{relpath} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                         "save it as UTF-8") from None
    except ValueError as exc:
        raise StepFailed(f"the test seed cannot run: {exc}") from None


def _log(result: pgtap.FileResult) -> str:
    lines = [f"# {result.relpath}"]
    lines += [f"# left out {note}" for note in result.left_out]
    for test in result.report.tests:
        lines.append(test.line())
        if test.failed:
            lines += [f"#   {d}" for d in test.diagnostics]
    if result.error is not None:
        lines.append(f"error at line {result.error[0]}: {result.error[1]}")
    return "\n".join(lines) + "\n"
