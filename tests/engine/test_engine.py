"""The engine runs steps in order and undoes, in reverse, every step that may have changed
the environment — including the one that failed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from service.config.model import default_config
from tests.recorder import Recorder
from workers.runbook.context import DeployContext, Environment, SourceTree
from workers.runbook.engine import Engine, UpToDate
from workers.runbook.events import EventKind, Outcome
from workers.runbook.step import Step, StepFailed, StepSkipped


def make_ctx(reporter: Recorder, dry_run: bool = False) -> DeployContext:
    env = Environment(name="staging", config=default_config().environments["staging"],
                      database=None, backups=None, functions=None)  # type: ignore[arg-type]
    return DeployContext(deployment_id=1, environment=env,
                         source=SourceTree(Path("/nonexistent"), "a" * 40),
                         config=default_config(), reporter=reporter, dry_run=dry_run)


def step(name: str, world: list[str], *, fail: bool = False, undo_fails: bool = False,
         read_only: bool = False, skip: bool = False, up_to_date: bool = False) -> Step:
    async def run(ctx: DeployContext) -> None:
        await ctx.output(f"{name} ran")
        if up_to_date:
            raise UpToDate("nothing to do")
        if skip:
            raise StepSkipped("nothing here")
        world.append(name)
        if fail:
            raise StepFailed(f"{name} broke", stop_the_line="migration error")

    async def undo(ctx: DeployContext) -> None:
        if undo_fails:
            raise RuntimeError("cannot undo")
        world.remove(name)

    return Step(name=name, title=name.title(), run=run,
                undo=None if read_only else undo, read_only=read_only)


async def test_success_runs_every_step_in_order() -> None:
    rec, world = Recorder(), []
    steps = [step("a", world, read_only=True), step("b", world), step("c", world)]
    outcome = await Engine(steps).run(make_ctx(rec))
    assert outcome is Outcome.SUCCEEDED
    assert world == ["a", "b", "c"]
    assert rec.kinds("b") == ["started", "output", "finished"]
    assert rec.events[0].kind is EventKind.DEPLOYMENT_STARTED
    assert rec.events[-1].data["outcome"] is Outcome.SUCCEEDED


async def test_failure_undoes_in_reverse_including_the_failed_step() -> None:
    rec, world = Recorder(), []
    steps = [step("pre", world, read_only=True), step("b", world), step("c", world),
             step("d", world, fail=True), step("e", world)]
    outcome = await Engine(steps).run(make_ctx(rec))
    assert outcome is Outcome.ROLLED_BACK
    assert world == ["pre"]  # b, c and d undone; e never ran
    undo_order = [e.step for e in rec.events if e.kind is EventKind.UNDO_STARTED]
    assert undo_order == ["d", "c", "b"]
    assert rec.kinds("e") == ["skipped"]
    last = rec.events[-1]
    assert last.data["failed_step"] == "d" and last.data["stop_the_line"] == "migration error"


async def test_failure_before_any_change_is_failed_not_rolled_back() -> None:
    rec, world = Recorder(), []
    steps = [step("pre", world, read_only=True, fail=True), step("b", world)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.FAILED
    assert not any(e.kind is EventKind.UNDO_STARTED for e in rec.events)


async def test_an_undo_that_fails_means_a_person_is_needed() -> None:
    rec, world = Recorder(), []
    steps = [step("b", world, undo_fails=True), step("c", world, fail=True)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.ROLLBACK_FAILED
    assert any(e.kind is EventKind.UNDO_FAILED and e.step == "b" for e in rec.events)
    assert world == ["b"]


async def test_a_foreseen_undo_failure_is_logged_without_a_traceback(
        caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    rec, world = Recorder(), []
    # Listen on the engine's logger itself: an earlier test may have configured logging
    # so that records do not reach the root logger, where caplog listens by default.
    engine_log = logging.getLogger("workers.runbook.engine")
    engine_log.addHandler(caplog.handler)
    request.addfinalizer(lambda: engine_log.removeHandler(caplog.handler))

    async def not_as_before(ctx: DeployContext) -> None:
        raise StepFailed("the environment is NOT as it was before — a person is needed")

    steps = [Step("p", "P", step("p", world).run, undo=not_as_before),
             step("c", world, fail=True)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.ROLLBACK_FAILED
    failed = next(r for r in caplog.records if r.getMessage().startswith("undo of p failed"))
    assert "NOT as it was before" in failed.getMessage()
    assert failed.exc_info is None and not failed.exc_text
    # An unforeseen one keeps its traceback for whoever debugs it.
    caplog.clear()
    steps = [step("b", world, undo_fails=True), step("c", world, fail=True)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.ROLLBACK_FAILED
    unforeseen = next(r for r in caplog.records if "undo of b" in r.getMessage())
    # (the redacting log filter, when installed, turns exc_info into redacted exc_text)
    assert unforeseen.exc_info or "Traceback" in (unforeseen.exc_text or "")


async def test_a_crashing_step_is_a_clean_failure() -> None:
    rec, world = Recorder(), []

    async def boom(ctx: DeployContext) -> None:
        raise ZeroDivisionError("oops")

    steps = [step("b", world), Step("x", "X", boom)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.ROLLED_BACK
    failed = next(e for e in rec.events if e.kind is EventKind.FAILED)
    assert "ZeroDivisionError" in failed.message and world == []


async def test_up_to_date_skips_the_rest() -> None:
    rec, world = Recorder(), []
    steps = [step("pre", world, read_only=True, up_to_date=True), step("b", world)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.UP_TO_DATE
    assert world == [] and rec.kinds("b") == ["skipped"]


async def test_dry_run_runs_only_read_only_steps() -> None:
    rec, world = Recorder(), []
    steps = [step("pre", world, read_only=True), step("b", world),
             step("post", world, read_only=True)]
    assert await Engine(steps).run(make_ctx(rec, dry_run=True)) is Outcome.PLANNED
    assert world == ["pre", "post"]


async def test_a_stop_request_between_steps_rolls_back() -> None:
    rec, world = Recorder(), []
    calls: list[Any] = []

    async def stop_check() -> str | None:
        calls.append(1)
        return "stopped by @lead with /rollback" if len(calls) == 2 else None

    steps = [step("b", world), step("c", world)]
    outcome = await Engine(steps, stop_check).run(make_ctx(rec))
    assert outcome is Outcome.ROLLED_BACK and world == []
    assert rec.events[-1].data["stop_the_line"] == "stopped by a person"


async def test_a_skipped_step_is_not_undone() -> None:
    rec, world = Recorder(), []
    steps = [step("b", world, skip=True), step("c", world, fail=True)]
    assert await Engine(steps).run(make_ctx(rec)) is Outcome.ROLLED_BACK
    undone = [e.step for e in rec.events if e.kind is EventKind.UNDO_STARTED]
    assert undone == ["c"] and world == []
