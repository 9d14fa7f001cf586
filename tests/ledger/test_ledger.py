"""The ledger records every step event of a deployment in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from service.config.model import default_config
from service.ledger.deployments import Ledger
from workers.reporters.ledger import LedgerReporter
from workers.runbook.context import DeployContext, Environment, SourceTree
from workers.runbook.engine import Engine
from workers.runbook.step import Step, StepFailed


async def _ok(ctx: DeployContext) -> None:
    await ctx.progress("working")
    await ctx.output("line one\nline two")
    await ctx.outcome("2 lines written")


async def _bad(ctx: DeployContext) -> None:
    raise StepFailed("broken", output="the details", stop_the_line="migration error")


async def _undo(ctx: DeployContext) -> None:
    await ctx.progress("taking the lines back")
    await ctx.output("undone")
    await ctx.outcome("2 lines taken back")


async def test_a_deployment_and_its_steps_are_recorded(fresh_db: str) -> None:
    steps = [Step("a", "Step A", _ok), Step("b", "Step B", _ok, _undo), Step("c", "Step C", _bad),
             Step("d", "Step D", _ok)]
    async with Ledger.open(fresh_db) as ledger:
        dep = await ledger.create_deployment(repo="o/r", environment="staging", kind="deploy",
                                             commit_sha="f" * 40, steps=[("a", "Step A")])
        env = Environment("staging", default_config().environments["staging"],
                          None, None, None)  # type: ignore[arg-type]
        ctx = DeployContext(dep, env, SourceTree(Path("."), "f" * 40), default_config(),
                            LedgerReporter(ledger, dep))
        await Engine(steps).run(ctx)
        row = await ledger.get(dep)
        assert row is not None
        assert row["status"] == "rolled_back" and row["failed_step"] == "c"
        assert row["reason"] == "broken" and row["stop_the_line"] == "migration error"
        assert row["started_at"] is not None and row["finished_at"] is not None
        by_name = {s["name"]: s for s in row["steps"]}
        assert [s["name"] for s in row["steps"]] == ["a", "b", "c", "d"]
        # a finished step's note is its outcome, not its last progress line
        assert by_name["a"]["status"] == "succeeded"
        assert by_name["a"]["message"] == "2 lines written"
        assert by_name["a"]["output"] == "line one\nline two\n"
        assert by_name["b"]["undo_status"] == "undone" and "undone" in by_name["b"]["output"]
        assert by_name["b"]["undo_message"] == "2 lines taken back"
        assert by_name["b"]["message"] == "2 lines written"  # the undo's lines are its own
        assert by_name["c"]["status"] == "failed" and "the details" in by_name["c"]["output"]
        assert by_name["d"]["status"] == "skipped"
        assert by_name["a"]["duration_ms"] is not None
        history = await ledger.history(environment="staging")
        assert [h["id"] for h in history] == [dep]
        assert await ledger.last_successful("o/r", "staging") is None


async def test_schema_setup_is_idempotent(fresh_db: str) -> None:
    async with Ledger.open(fresh_db):
        pass
    async with Ledger.open(fresh_db) as ledger:
        assert await ledger.history() == []
