"""Runbook "Apply migrations": pending migrations in version order, each file with its
history row.

By default every pending file and the pgTAP suite run in ONE transaction (each file in a
savepoint, each test file in a savepoint rolled back), committed only when every test
passed: a failing test or migration leaves nothing committed, which is the exact undo that
needs no rollback script — and the step checks the history before saying so. A file that
cannot run in a transaction (CREATE INDEX CONCURRENTLY, named by the lint) makes the step
fall back to committing each file in its own transaction, the tests then running in
`verify` after the commit.

Undo reverts what this deployment committed with the rollback scripts, newest first, and
restores the backup when a script is missing or fails."""

from __future__ import annotations

import re
import time

from service.embedded.shim import PLATFORM_ROLES
from workers.drivers.backup_toc import PLATFORM_SCHEMAS
from workers.drivers.interfaces import (
    DatabaseUnavailable,
    MigrationError,
    MigrationFile,
    TransactionLost,
)
from workers.repository.migration_files import (
    HISTORY_TABLE,
    discover,
    outside_transaction,
    pending,
)
from workers.runbook import pgtap_suite
from workers.runbook.context import DeployContext
from workers.runbook.events import Annotation
from workers.runbook.step import Step, StepFailed, StepSkipped

MIGRATION_ERROR = "migration error"
DATABASE_DOWN = "database connection issues"


def _seconds(duration: float) -> str:
    return f"{duration * 1000:.0f} ms" if duration < 1 else f"{duration:.2f} s"


async def _pending(ctx: DeployContext) -> list[MigrationFile]:
    todo = ctx.state.pending
    if todo is not None:
        return todo
    paths = ctx.config.paths
    migrations = discover(ctx.source.root, paths.migrations, paths.rollbacks)
    try:
        applied = await ctx.environment.database.applied_migrations()
    except DatabaseUnavailable as exc:
        raise StepFailed(str(exc), stop_the_line=DATABASE_DOWN) from exc
    return pending(migrations, applied)


async def run(ctx: DeployContext) -> None:
    todo = await _pending(ctx)
    if not todo:
        raise StepSkipped("no pending migrations")
    apart = [(m, s) for m in todo if (s := outside_transaction(m)) is not None]
    if not apart:
        await _apply_and_test(ctx, todo)
        return
    named = "; ".join(f"{m.relpath}:{s.line} (`{' '.join(s.sql.split()[:4])}`)"
                      for m, s in apart)
    await ctx.output(
        f"not one transaction: {named} cannot run inside a transaction block; falling back "
        f"to committing each file in its own transaction (that file statement by "
        f"statement), the pgTAP tests running after the commit in `verify`, and the undo "
        f"being the rollback scripts or the verified backup\n")
    await _apply_each(ctx, todo)


async def _apply_and_test(ctx: DeployContext, todo: list[MigrationFile]) -> None:
    """Every file, then the pgTAP suite, in one transaction; commit only when they pass."""
    files = pgtap_suite.find(ctx)  # before anything changes: a bad test file stops here
    db = ctx.environment.database
    settings = ctx.environment.config
    applied = ctx.state.applied
    tests = (f"the pgTAP tests ({len(files)} file(s))" if isinstance(files, list)
             else "no pgTAP tests (" + files.removeprefix("no tests ran: ") + ")")
    await ctx.output(f"applying {len(todo)} migration(s) and running {tests} in one "
                     f"transaction, committed only if all pass\n")
    failure: StepFailed | None = None
    summary = ""
    try:
        async with db.transaction(lock_timeout_ms=settings.lock_timeout_ms,
                                  statement_timeout_ms=settings.statement_timeout_ms) as txn:
            ctx.state.migrate_batch_in_doubt = list(todo)  # begun: from now on, check the history
            for index, migration in enumerate(todo, 1):
                await ctx.progress(f"applying {migration.relpath} ({index}/{len(todo)})",
                                   file=migration.relpath, index=index, total=len(todo))
                started = time.monotonic()
                await txn.apply(migration)
                await ctx.output(f"applied {migration.relpath} in "
                                 f"{_seconds(time.monotonic() - started)} (not committed)\n")
            if isinstance(files, list):
                await ctx.progress("running the pgTAP tests before the commit")
                result = await pgtap_suite.run(ctx, txn, files)
                summary, failure = result.summary, result.failure
            if failure is None:
                await ctx.progress("committing")
                await txn.commit()
    except MigrationError as exc:
        if exc.transaction_ended:
            ctx.state.migrate_batch_in_doubt = None
            ctx.state.migrate_ended = exc.migration.relpath
            raise _failed(exc, applied, one_transaction=True) from exc
        failure = _failed(exc, applied, one_transaction=True)
    except TransactionLost as exc:
        if exc.maybe_committed:
            ctx.state.migrate_batch_in_doubt = None
            ctx.state.migrate_ended = "the transaction holding the migrations"
            raise StepFailed(f"{exc}; the rollback restores the verified backup",
                             stop_the_line=MIGRATION_ERROR) from exc
        failure = StepFailed(str(exc), stop_the_line=pgtap_suite.SECURITY_STOP)
    except DatabaseUnavailable as exc:
        # Around the COMMIT nobody can tell: undo checks the history (batch in doubt).
        raise StepFailed(str(exc), stop_the_line=DATABASE_DOWN) from exc
    except StepFailed as exc:  # the suite could not finish (timeout, database lost)
        failure = exc
    if failure is not None:
        raise await _rolled_back(ctx, todo, failure)
    ctx.state.migrate_batch_in_doubt = None
    applied.extend(todo)
    what = f"after {summary}" if summary else "(no pgTAP tests to run first)"
    if summary:
        ctx.state.tested_before_commit = summary
    await ctx.output(f"committed {len(todo)} migration(s) in one transaction {what}\n")
    await ctx.outcome(f"applied {len(todo)} migration{'s' if len(todo) != 1 else ''} "
                      f"in one transaction" + (" with the tests" if summary else ""))


async def _rolled_back(ctx: DeployContext, todo: list[MigrationFile], failure: StepFailed
                       ) -> StepFailed:
    """The transaction was rolled back: check the history before saying nothing was
    committed, and put that in the step's failure."""
    try:
        recorded = {a.version for a in await ctx.environment.database.applied_migrations()}
    except DatabaseUnavailable as exc:
        failure.output += (f"\nThe transaction was rolled back, but the history could not be "
                           f"read to check it: {exc}\n")
        return failure  # the batch stays in doubt: undo checks again
    ctx.state.migrate_batch_in_doubt = None
    still = [m for m in todo if m.version in recorded]
    if still:  # cannot happen after a rollback; never say "nothing" without looking
        ctx.state.applied.extend(still)
        failure.output += ("\nThe transaction was rolled back, yet the history lists "
                           + ", ".join(m.relpath for m in still) + "; the undo reverts them\n")
        return failure
    failure.reason += "; the transaction was rolled back: nothing was committed"
    failure.output = (
        f"{failure.output.rstrip()}\n\nThe migrations and the tests ran in one transaction, "
        f"which was rolled back: nothing was committed (checked: none of the "
        f"{len(todo)} version(s) is in {HISTORY_TABLE}).\n")
    return failure


async def _apply_each(ctx: DeployContext, todo: list[MigrationFile]) -> None:
    """Each file in its own transaction, committed before the next one runs."""
    db = ctx.environment.database
    settings = ctx.environment.config
    applied = ctx.state.applied
    for index, migration in enumerate(todo, 1):
        await ctx.progress(f"applying {migration.relpath} ({index}/{len(todo)})",
                           file=migration.relpath, index=index, total=len(todo))
        started = time.monotonic()
        try:
            # Only the last commit waits for its WAL flush, which makes every earlier one
            # durable too; undo checks the history, so a crash in between is handled.
            await db.apply_migration(migration, lock_timeout_ms=settings.lock_timeout_ms,
                                     statement_timeout_ms=settings.statement_timeout_ms,
                                     durable=index == len(todo))
        except MigrationError as exc:
            if exc.transaction_ended:
                ctx.state.migrate_ended = migration.relpath
            raise _failed(exc, applied) from exc
        except DatabaseUnavailable as exc:
            # The connection may have died around the COMMIT: undo checks the history.
            # A file run outside a transaction may be partly committed: only the backup.
            if outside_transaction(migration) is not None:
                ctx.state.migrate_ended = migration.relpath
            else:
                ctx.state.migrate_in_doubt = migration
            raise StepFailed(str(exc), output=_committed(applied),
                             stop_the_line=DATABASE_DOWN) from exc
        applied.append(migration)
        await ctx.output(f"applied {migration.relpath} in "
                         f"{_seconds(time.monotonic() - started)}\n")
    await ctx.outcome(f"applied {len(todo)} migration{'s' if len(todo) != 1 else ''}")


def _committed(applied: list[MigrationFile]) -> str:
    if not applied:
        return "No migration of this deployment was committed.\n"
    names = "\n".join(f"  {m.relpath}" for m in applied)
    return (f"Committed by this deployment before the failure; the rollback that follows "
            f"reverts them and reports how it went:\n{names}\n")


def _failed(exc: MigrationError, applied: list[MigrationFile], *,
            one_transaction: bool = False) -> StepFailed:
    m = exc.migration
    first_line = exc.error.splitlines()[0] if exc.error else "failed"
    statement = exc.statement or "(not one statement of the file: see the error)"
    if exc.transaction_ended and exc.outside_transaction:
        outcome = ("it runs outside a transaction and part of it is committed: the rollback "
                   "restores the verified backup")
    elif exc.transaction_ended:
        what = ("the deployment's one transaction, so part of it and of the files before it"
                if one_transaction else "the file's own transaction, so part of it")
        outcome = (f"it ended {what} may be committed: the rollback restores the verified "
                   f"backup")
    else:
        outcome = ("the deployment's transaction is rolled back" if one_transaction
                   else "the file's transaction was rolled back")
    hint = _platform_role_hint(exc) or _not_supabase_hint(exc)
    done = "" if one_transaction else f"\n\n{_committed(applied)}"
    output = (
        f"{m.relpath}:{exc.line} failed{f' (SQLSTATE {exc.sqlstate})' if exc.sqlstate else ''}"
        f"; {outcome}.\n\n"
        f"Statement:\n{statement}\n\nError:\n{exc.error}"
        f"{chr(10) + chr(10) + hint if hint else ''}{done}"
    )
    return StepFailed(
        f"{m.relpath}:{exc.line}: {first_line}{': ' + hint if hint else ''}",
        output=output,
        annotations=[Annotation(m.relpath, max(1, exc.line), exc.error,
                                title=f"migration {m.version} failed")],
        stop_the_line=MIGRATION_ERROR,
    )


_ALTER_PLATFORM_ROLE = re.compile(
    r"\s*ALTER\s+(?:ROLE|USER)\s+\"?(" + "|".join(PLATFORM_ROLES) + r")\b", re.IGNORECASE)


def _platform_role_hint(exc: MigrationError) -> str | None:
    """Why a migration may not alter a Supabase platform role here, and what to do."""
    found = _ALTER_PLATFORM_ROLE.match(exc.statement or "")
    if exc.sqlstate != "42501" or found is None:
        return None
    role = found.group(1).lower()
    return (f"the environment's owner role may not alter `{role}`, a role of the whole "
            "server shared by every database on it (hosted Supabase's `postgres` role may); "
            "on a server of your own an admin can allow it (`ALTER ROLE <owner> CREATEROLE`"
            f"; on PostgreSQL 16+ also `GRANT {role} TO <owner> WITH ADMIN OPTION`); the "
            "embedded default never does, as its environments share these roles")


_MISSING_SCHEMA = re.compile(r'schema "([^"]+)" does not exist')
_MISSING_ROLE = re.compile(r'role "([^"]+)" does not exist')


def _not_supabase_hint(exc: MigrationError) -> str | None:
    """A Supabase migration run on a database without Supabase's platform surface."""
    text = exc.error or ""
    schema = _MISSING_SCHEMA.search(text) if exc.sqlstate == "3F000" else None
    role = _MISSING_ROLE.search(text) if exc.sqlstate == "42704" else None
    if schema is not None and schema.group(1) in PLATFORM_SCHEMAS:
        missing = f"schema `{schema.group(1)}`"
    elif role is not None and role.group(1) in PLATFORM_ROLES:
        missing = f"role `{role.group(1)}`"
    else:
        return None
    return (f"this database lacks Supabase's {missing}: it is not a Supabase database; run "
            "Supabase migrations on a Supabase project (hosted or self-hosted Supabase), or "
            "leave the environment's database URL unset locally: the embedded default "
            "provides Supabase's auth, storage and extensions schemas and its roles")


async def undo(ctx: DeployContext) -> None:
    applied = ctx.state.applied
    await _settle_batch(ctx, applied)
    await _settle_in_doubt(ctx, applied)
    await _drop_unflushed(ctx, applied)
    ended = ctx.state.migrate_ended
    if ended is not None:
        # No rollback script can undo half a file: its statements ran, its history row not.
        await _restore_backup(ctx, ended, "part of it may be committed without its "
                              "history row")
        return
    if not applied:
        await ctx.output("nothing to undo: this deployment committed no migration\n")
        await ctx.outcome("nothing to undo")
        return
    db = ctx.environment.database
    lock_timeout_ms = ctx.environment.config.lock_timeout_ms
    total = len(applied)
    while applied:
        migration = applied[-1]
        await ctx.progress(f"reverting {migration.relpath} "
                           f"({total - len(applied) + 1}/{total})", file=migration.relpath)
        why = _cannot_revert(migration)
        if why is None:
            started = time.monotonic()
            try:
                await db.revert_migration(migration, lock_timeout_ms=lock_timeout_ms)
            except MigrationError as exc:
                why = (f"its rollback failed at {exc.migration.relpath}:{exc.line}: "
                       f"{exc.error.splitlines()[0] if exc.error else 'error'}")
            except DatabaseUnavailable as exc:
                why = f"the database is unreachable: {exc}"
            else:
                applied.pop()
                how = ("no-op rollback: history row deleted" if migration.rollback_noop
                       else f"with {migration.rollback_relpath}")
                await ctx.output(f"reverted {migration.relpath} ({how}) in "
                                 f"{_seconds(time.monotonic() - started)}\n")
                continue
        await _restore_backup(ctx, migration.relpath, why)
        return
    await ctx.outcome(f"reverted {total} migration{'s' if total != 1 else ''}")


async def _drop_unflushed(ctx: DeployContext, applied: list[MigrationFile]) -> None:
    """A server crash can lose commits not yet flushed (all but the batch's last): their
    changes and history rows are gone together, so there is nothing to revert for them."""
    try:
        present = {a.version for a in await ctx.environment.database.applied_migrations()}
    except DatabaseUnavailable:
        return  # the reverts below fail the same way and fall back to the backup
    lost = [m for m in applied if m.version not in present]
    if lost:
        applied[:] = [m for m in applied if m.version in present]
        await ctx.output("no longer applied (lost with the server before being flushed), "
                         "nothing to revert: " + ", ".join(m.relpath for m in lost) + "\n")


async def _settle_in_doubt(ctx: DeployContext, applied: list[MigrationFile]) -> None:
    """The database went away while a file was being applied: revert that file too if
    its history row is there. If the database is still unreachable nobody can tell, and
    saying "rolled back" would be a guess."""
    migration = ctx.state.migrate_in_doubt
    if migration is None:
        return
    try:
        recorded = {a.version for a in await ctx.environment.database.applied_migrations()}
    except DatabaseUnavailable as exc:
        done = ", ".join(m.relpath for m in applied) or "none"
        raise StepFailed(
            f"cannot check whether {migration.relpath} committed: {exc}; a person is "
            f"needed: when the database is back, look for version {migration.version} in "
            f"supabase_migrations.schema_migrations and undo it and this deployment's "
            f"other migrations ({done})", stop_the_line=DATABASE_DOWN) from exc
    ctx.state.migrate_in_doubt = None
    if migration.version in recorded:
        await ctx.output(f"{migration.relpath} did commit before the connection was lost\n")
        applied.append(migration)


async def _settle_batch(ctx: DeployContext, applied: list[MigrationFile]) -> None:
    """The one transaction's outcome is unknown (the connection or the worker died around
    its commit): the history says whether it committed — all of it, or nothing."""
    batch = ctx.state.migrate_batch_in_doubt
    if batch is None:
        return
    try:
        recorded = {a.version for a in await ctx.environment.database.applied_migrations()}
    except DatabaseUnavailable as exc:
        versions = ", ".join(m.version for m in batch)
        raise StepFailed(
            f"cannot check whether the transaction applying {len(batch)} migration(s) "
            f"committed: {exc}; a person is needed: when the database is back, look for "
            f"versions {versions} in {HISTORY_TABLE} and undo them if they are there",
            stop_the_line=DATABASE_DOWN) from exc
    ctx.state.migrate_batch_in_doubt = None
    committed = [m for m in batch if m.version in recorded and m not in applied]
    if committed:
        await ctx.output("the transaction did commit before the connection was lost: "
                         + ", ".join(m.relpath for m in committed) + "\n")
        applied.extend(committed)
    else:
        await ctx.output(f"the transaction did not commit (checked: none of its "
                         f"{len(batch)} version(s) is in {HISTORY_TABLE})\n")


def _cannot_revert(m: MigrationFile) -> str | None:
    if m.rollback_noop:
        return None
    if m.rollback_sql is None:
        return "it has no rollback script"
    return None


async def _restore_backup(ctx: DeployContext, relpath: str, why: str) -> None:
    """The rollback scripts cannot finish the job: bring back the pre-deployment backup."""
    applied = ctx.state.applied
    left = ", ".join(m.relpath for m in applied) or relpath
    backup = ctx.state.backup
    if backup is None:
        raise StepFailed(
            f"cannot revert {relpath}: {why}, and there is no backup to restore; "
            f"a person is needed to undo {left} by hand",
            output=f"Still applied by this deployment: {left}\n",
            stop_the_line=MIGRATION_ERROR)
    await ctx.output(f"cannot revert {relpath}: {why}; restoring the backup "
                     f"{backup.location} taken at {backup.created_at.isoformat()}\n")
    await ctx.progress(f"restoring backup {backup.location}")
    db = ctx.environment.database
    started = time.monotonic()
    try:
        await ctx.environment.backups.restore(backup, db)
        remaining = {a.version for a in await db.applied_migrations()}
    except Exception as exc:
        raise StepFailed(
            f"cannot revert {relpath} ({why}) and restoring the backup "
            f"{backup.location} failed: {exc}; a person is needed",
            output=f"Still applied by this deployment, as far as we know: {left}\n",
            stop_the_line=MIGRATION_ERROR) from exc
    still = [m.relpath for m in applied if m.version in remaining]
    if still:
        raise StepFailed(
            f"restored the backup {backup.location}, but the history still lists "
            f"{', '.join(still)}; a person is needed to check the database",
            stop_the_line=MIGRATION_ERROR)
    await ctx.output(f"restored the backup {backup.location} in "
                     f"{_seconds(time.monotonic() - started)}: undid {left}\n")
    await ctx.outcome(f"backup restored: undid {left}")
    applied.clear()


MIGRATE = Step(
    name="migrate",
    title="Apply migrations",
    run=run,
    undo=undo,
    runbook="Apply migrations",
)
