"""A finished step's note is what it came to ("release 4 active"), never the last thing it
was doing ("activating release 4"); an undone step's note is what its undo came to."""

from __future__ import annotations

from tests.engine.test_engine import make_ctx
from workers.reporters.progress import Progress
from workers.runbook.context import DeployContext
from workers.runbook.engine import Engine
from workers.runbook.events import Event, Outcome
from workers.runbook.step import Step, StepFailed


class Folded:
    """The Progress every snapshot reporter (check run, comment, dashboard) renders."""

    def __init__(self) -> None:
        self.progress = Progress()

    async def emit(self, event: Event) -> None:
        self.progress.apply(event)


async def _activate(ctx: DeployContext) -> None:
    await ctx.progress("activating release 4")
    await ctx.outcome("release 4 active")


async def _activate_undo(ctx: DeployContext) -> None:
    await ctx.progress("reactivating release 3")
    await ctx.outcome("release 3 active again")


async def _quiet(ctx: DeployContext) -> None:
    await ctx.progress("running the functions' unit tests")


async def _broken(ctx: DeployContext) -> None:
    await ctx.progress("applying 0002_orders.sql")
    raise StepFailed("0002_orders.sql failed")


async def _nothing(ctx: DeployContext) -> None:
    return None


ACTIVATE = Step(name="functions", title="Functions", run=_activate, undo=_activate_undo)
QUIET = Step(name="preflight", title="Preflight", run=_quiet, read_only=True)
QUIET_UNDO = Step(name="smoke", title="Smoke", run=_nothing, undo=_quiet)


async def _run(steps: list[Step]) -> tuple[Outcome, Progress]:
    folded = Folded()
    outcome = await Engine(steps).run(make_ctx(folded))  # type: ignore[arg-type]
    return outcome, folded.progress


async def test_a_finished_step_keeps_its_outcome_not_its_progress() -> None:
    outcome, progress = await _run([QUIET, ACTIVATE])
    assert outcome is Outcome.SUCCEEDED
    assert progress.steps["functions"].note == "release 4 active"
    # No outcome given: no note, rather than the stale "running the functions' unit tests".
    assert progress.steps["preflight"].status == "succeeded"
    assert progress.steps["preflight"].note == ""


async def test_an_undone_step_ends_with_what_its_undo_came_to() -> None:
    migrate = Step(name="migrate", title="Migrate", run=_broken, undo=_nothing)
    outcome, progress = await _run([ACTIVATE, QUIET_UNDO, migrate])
    assert outcome is Outcome.ROLLED_BACK
    functions, smoke, migrate_ = (progress.steps[n] for n in ("functions", "smoke", "migrate"))
    assert (functions.undo, functions.undo_note) == ("undone", "release 3 active again")
    assert functions.note == "release 4 active"  # what the step itself had come to
    # An undo that says nothing of itself leaves no stale "running the … unit tests".
    assert (smoke.undo, smoke.undo_note, smoke.note) == ("undone", "", "")
    assert (migrate_.status, migrate_.note) == ("failed", "0002_orders.sql failed")
