"""Run steps in order; on failure undo, in reverse, every step that may have changed the
environment, so it is left as it was before the deployment."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence

from workers.runbook.context import DeployContext
from workers.runbook.events import Event, EventKind, Outcome
from workers.runbook.step import Refused, Step, StepFailed, StepSkipped

log = logging.getLogger(__name__)


def _changes(touched: Sequence[Step]) -> bool:
    """Whether any of these steps may have changed the environment (not only checks it)."""
    return any(not s.undo_verifies for s in touched)


class UpToDate(Exception):
    """Raised by a step when the environment already runs the commit: nothing to do."""


# Returns a reason when a person asked to stop (e.g. `/rollback` during the deployment).
StopCheck = Callable[[], Awaitable[str | None]]


class Engine:
    def __init__(self, steps: Sequence[Step], stop_check: StopCheck | None = None) -> None:
        self.steps = list(steps)
        self.stop_check = stop_check
        # Steps of the current run that began and know how to undo: what an interruption
        # must put back.
        self.touched: list[Step] = []
        # The run was refused before anything ran (not a failed deployment).
        self.refused = False

    async def run(self, ctx: DeployContext) -> Outcome:
        emit = ctx.reporter.emit
        await emit(Event(EventKind.DEPLOYMENT_STARTED, None, ctx.environment.name, {
            "steps": [s.name for s in self.steps],
            "titles": {s.name: s.title for s in self.steps},
            "commit": ctx.source.commit,
            "dry_run": ctx.dry_run,
            "rollback_of": target.id if (target := ctx.state.rollback_target) else None,
        }))
        touched = self.touched = []
        failure: StepFailed | None = None
        failed_step: str | None = None
        up_to_date = False
        for index, step in enumerate(self.steps):
            if up_to_date or (ctx.dry_run and not step.read_only):
                why = "already up to date" if up_to_date else "dry run: changes nothing"
                await emit(Event(EventKind.SKIPPED, step.name, why))
                continue
            if failure is not None:
                await emit(Event(EventKind.SKIPPED, step.name, f"not run: {failed_step} failed"))
                continue
            stop_reason = await self.stop_check() if self.stop_check else None
            if stop_reason:
                failure = StepFailed(stop_reason, stop_the_line="stopped by a person")
                failed_step = step.name
                await emit(Event(EventKind.FAILED, step.name, stop_reason,
                                 {"stop_the_line": failure.stop_the_line, "before_start": True}))
                continue
            ctx.current_step, ctx.step_outcome = step.name, ""
            started = time.monotonic()
            await emit(Event(EventKind.STARTED, step.name, step.title, {"index": index}))
            if step.undo is not None and not ctx.dry_run:
                touched.append(step)
            try:
                await step.run(ctx)
            except UpToDate as exc:
                up_to_date = True
                if touched and touched[-1] is step:
                    touched.pop()  # it changed nothing
                await emit(Event(EventKind.FINISHED, step.name, str(exc) or "up to date",
                                 {"duration": time.monotonic() - started}))
            except StepSkipped as exc:
                if touched and touched[-1] is step:
                    touched.pop()  # a skipped step changed nothing: nothing to undo
                await emit(Event(EventKind.SKIPPED, step.name, str(exc),
                                 {"duration": time.monotonic() - started}))
            except StepFailed as exc:
                failure, failed_step = exc, step.name
                await emit(Event(EventKind.FAILED, step.name, exc.reason, {
                    "duration": time.monotonic() - started,
                    "output": exc.output,
                    "annotations": exc.annotations,
                    "stop_the_line": exc.stop_the_line,
                    **({"refusal": exc.detail} if isinstance(exc, Refused) else {}),
                }))
            except Exception as exc:  # a bug or an unforeseen error is still a clean stop
                log.exception("step %s crashed", step.name)
                failure, failed_step = StepFailed(
                    f"{type(exc).__name__}: {exc}", output=traceback.format_exc(limit=8),
                    stop_the_line="unexpected error",
                ), step.name
                await emit(Event(EventKind.FAILED, step.name, failure.reason, {
                    "duration": time.monotonic() - started, "output": failure.output,
                    "annotations": [], "stop_the_line": failure.stop_the_line,
                }))
            else:
                await emit(Event(EventKind.FINISHED, step.name, ctx.step_outcome,
                                 {"duration": time.monotonic() - started}))
        ctx.current_step = None

        if failure is None:
            outcome = (Outcome.UP_TO_DATE if up_to_date
                       else Outcome.PLANNED if ctx.dry_run else Outcome.SUCCEEDED)
        elif not _changes(touched):
            outcome = Outcome.FAILED
            self.refused = isinstance(failure, Refused)
        else:
            outcome = await self._undo(ctx, touched)
        refusal = {"refused": True, "refusal": failure.detail} \
            if self.refused and isinstance(failure, Refused) else {}
        await emit(Event(EventKind.DEPLOYMENT_FINISHED, failed_step,
                         failure.reason if failure else "", {
                             "outcome": outcome,
                             "failed_step": failed_step,
                             "stop_the_line": failure.stop_the_line if failure else "",
                             **refusal,
                         }))
        return outcome

    async def complete(self, ctx: DeployContext, left: set[str], reason: str
                       ) -> Outcome | None:
        """Finish a run whose worker died when all that was left changes nothing (`report`):
        run those steps and conclude it succeeded. None when one of them fails: the caller
        then undoes the run like any other."""
        emit = ctx.reporter.emit
        for step in self.steps:
            if step.name not in left:
                continue
            ctx.current_step, ctx.step_outcome = step.name, ""
            started = time.monotonic()
            await emit(Event(EventKind.STARTED, step.name, step.title))
            try:
                await step.run(ctx)
            except Exception:
                log.exception("completing step %s failed", step.name)
                return None
            await emit(Event(EventKind.FINISHED, step.name, ctx.step_outcome,
                             {"duration": time.monotonic() - started}))
        ctx.current_step = None
        await emit(Event(EventKind.DEPLOYMENT_FINISHED, None, reason, {
            "outcome": Outcome.SUCCEEDED, "failed_step": None, "stop_the_line": ""}))
        return Outcome.SUCCEEDED

    async def interrupted(self, ctx: DeployContext, reason: str) -> Outcome:
        """The run was stopped from outside (Ctrl-C, SIGTERM) in the middle of a step: the
        step ends failed with `reason`, and what the run had begun is undone."""
        step = ctx.current_step
        if step is not None:
            await ctx.reporter.emit(Event(EventKind.FAILED, step, reason, {
                "output": "", "annotations": [], "stop_the_line": "interrupted"}))
        outcome = await self._undo(ctx, list(self.touched)) if self.touched else Outcome.FAILED
        await ctx.reporter.emit(Event(EventKind.DEPLOYMENT_FINISHED, step, reason, {
            "outcome": outcome, "failed_step": step, "stop_the_line": "interrupted"}))
        return outcome

    async def recover(self, ctx: DeployContext, started: set[str], reason: str) -> Outcome:
        """Undo a deployment whose worker died: every step it had started, in reverse, from
        the state rebuilt out of its journal."""
        touched = [s for s in self.steps if s.name in started and s.undo is not None]
        outcome = await self._undo(ctx, touched) if _changes(touched) else Outcome.FAILED
        await ctx.reporter.emit(Event(EventKind.DEPLOYMENT_FINISHED, None, reason, {
            "outcome": outcome, "failed_step": None, "stop_the_line": "worker stopped"}))
        return outcome

    async def _undo(self, ctx: DeployContext, touched: list[Step]) -> Outcome:
        ok = True
        for step in reversed(touched):
            assert step.undo is not None
            ctx.current_step, ctx.step_outcome = step.name, ""
            started = time.monotonic()
            await ctx.reporter.emit(Event(EventKind.UNDO_STARTED, step.name, f"undo {step.title}"))
            try:
                await step.undo(ctx)
            except Exception as exc:
                ok = False
                if isinstance(exc, StepFailed):  # foreseen: its reason says what and the fix
                    log.error("undo of %s failed: %s", step.name, exc.reason)
                    reason = exc.reason
                else:
                    log.exception("undo of %s failed", step.name)
                    reason = f"{type(exc).__name__}: {exc}"
                await ctx.reporter.emit(Event(EventKind.UNDO_FAILED, step.name, reason, {
                    "duration": time.monotonic() - started}))
            else:
                await ctx.reporter.emit(Event(EventKind.UNDO_FINISHED, step.name,
                                              ctx.step_outcome, {
                    "duration": time.monotonic() - started}))
        ctx.current_step = None
        return Outcome.ROLLED_BACK if ok else Outcome.ROLLBACK_FAILED
