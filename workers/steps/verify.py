"""verify: run the RLS test suite against the environment (runbook: Run RLS Tests).

The suite is SQL from the pinned commit that prints TAP through psql; each test runs in its
own transaction and rolls back, so the step has nothing to undo. Any failing, missing or
erroring test is the runbook's security stop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.bounded_input import InputRefused, read_bounded
from service.pgtools import ToolNotFound
from workers.drivers.backups import is_unreachable, scrub, tool_env
from workers.drivers.interfaces import DatabaseUnavailable
from workers.drivers.processes import communicate
from workers.runbook import tap
from workers.runbook.context import DeployContext
from workers.runbook.events import Annotation
from workers.runbook.step import Step, StepFailed

SECURITY_STOP = "RLS test fails (security vulnerability)"
UNREACHABLE = "database connection issues"
SUITE_TIMEOUT = 600  # seconds; the suite's own lock timeouts keep it far below this
MAX_SUITE_BYTES = 1024 * 1024  # the worker reads it whole (annotations): bounded input


async def run(ctx: DeployContext) -> None:
    relpath = ctx.config.paths.rls_suite
    suite = ctx.source.path(relpath)
    if not suite.is_file():
        raise StepFailed(
            f"the RLS test suite {relpath} does not exist at {ctx.source.commit[:12]}: add it, "
            f"or point paths.rls_suite in .github/deploybot.yml at the suite")
    try:
        read_bounded(suite, MAX_SUITE_BYTES, relpath)
    except InputRefused as exc:
        raise StepFailed(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise StepFailed(f"{relpath} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                         f"save it as UTF-8") from None
    db = ctx.environment.database
    try:
        tools = db.tools(await db.server_version_num())
    except DatabaseUnavailable as exc:
        raise StepFailed(f"cannot reach the database to run the RLS tests: {exc}",
                         stop_the_line=UNREACHABLE) from None
    except ToolNotFound as exc:
        raise StepFailed(str(exc), stop_the_line="required tools missing") from None
    env = db.libpq_env()
    secrets = [env.get("PGPASSWORD", "")]
    await ctx.progress(f"running {relpath}")
    proc = await asyncio.create_subprocess_exec(
        tools.psql, "--no-password", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0",
        "-f", str(suite), cwd=ctx.source.root, env=tool_env(env),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(SUITE_TIMEOUT):
            out_b, err_b = await communicate(proc)
    except TimeoutError:
        raise StepFailed(f"the RLS tests did not finish within {SUITE_TIMEOUT} s",
                         stop_the_line=SECURITY_STOP) from None
    stdout = scrub(out_b.decode("utf-8", "replace"), secrets)
    stderr = scrub(err_b.decode("utf-8", "replace"), secrets)
    if proc.returncode == 2 and is_unreachable(stderr):
        raise StepFailed(f"lost the database while running the RLS tests: "
                         f"{stderr.strip().splitlines()[-1] if stderr.strip() else 'psql exit 2'}",
                         output=stderr, stop_the_line=UNREACHABLE)

    report = tap.parse(stdout, stderr)
    lines = [t.line() for t in report.tests]
    passed = sum(1 for t in report.tests if not t.failed)
    summary = (f"{passed}/{report.plan if report.plan is not None else len(report.tests)} "
               f"RLS tests passed")
    await ctx.output("\n".join([*lines, *(f"psql: {e}" for e in report.errors), summary]) + "\n")
    problems = report.problems()
    if report.plan is None and stderr.strip():  # psql could not even start the suite
        problems.append(f"psql: {stderr.strip().splitlines()[-1]}")
    if proc.returncode not in (0, None) and not problems:
        problems = [f"psql exited {proc.returncode}: {stderr.strip() or 'no message'}"]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                           if len(problems) > 5 else "")
        raise StepFailed(f"RLS tests failed: {shown}", output="\n".join(problems),
                         annotations=_annotations(suite, relpath, report.failures),
                         stop_the_line=SECURITY_STOP)
    await ctx.progress(summary)


def _annotations(suite: Path, relpath: str, failures: list[tap.TapTest]) -> list[Annotation]:
    """Point each failing test at the suite line that names it (as an SQL literal)."""
    lines = suite.read_text(errors="replace").splitlines()
    found: list[Annotation] = []
    for test in failures:
        needle = test.name.replace("'", "''")
        line = next((i for i, text in enumerate(lines, 1) if needle and needle in text), 1)
        found.append(Annotation(path=relpath, line=line, title=f"RLS test {test.number} failed",
                                message=test.reason or test.name))
    return found


VERIFY = Step(name="verify", title="RLS tests", run=run, read_only=False,
              runbook="Run RLS Tests")
