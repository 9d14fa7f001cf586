"""verify: run the pgTAP tests against the environment (runbook: Run RLS Tests).

`paths.tests` names one test file or a directory of them (`supabase/tests` in the Supabase
CLI's layout); each file runs in its own transaction that is rolled back, like
`supabase test db` (workers/runbook/pgtap.py), so the step has nothing to undo. Any
failing, missing or erroring test is the runbook's security stop. A repository without
tests deploys, and the step says no tests ran.

When `migrate` applied the pending migrations in one transaction, it ran these tests in
that transaction before its commit (they test the database only: what the functions and
smoke steps change afterwards is no concern of theirs); this step then reports that run
instead of running them again. With no pending migrations, or when the migrations fell
back to committing each file, the tests run here, after the commit.
"""

from __future__ import annotations

from workers.runbook import pgtap_suite
from workers.runbook.context import DeployContext
from workers.runbook.pgtap_suite import MAX_TEST_FILE_BYTES, SECURITY_STOP
from workers.runbook.step import Step, StepSkipped

__all__ = ["MAX_TEST_FILE_BYTES", "SECURITY_STOP", "VERIFY"]


async def run(ctx: DeployContext) -> None:
    tested = ctx.state.tested_before_commit
    if tested is not None:
        note = (f"{tested}, inside the transaction that applied the migrations, before it "
                f"committed (migrate step); not run again")
        await ctx.output(note + "\n")
        await ctx.outcome(note)
        return
    files = pgtap_suite.find(ctx)
    if isinstance(files, str):
        raise StepSkipped(files)
    result = await pgtap_suite.run(ctx, ctx.environment.database, files)
    if result.failure is not None:
        raise result.failure
    await ctx.output(result.summary + "\n")
    await ctx.outcome(result.summary)


VERIFY = Step(name="verify", title="RLS tests", run=run, read_only=False,
              runbook="Run RLS Tests")
