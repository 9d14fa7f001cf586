"""Dry runs, refusals and no-op redeploys are recorded (the audit trail) but are not
deployments: each record has a kind, histories list real deployments unless asked, a
refused run is recorded `refused` (not `failed`), and earlier refusals recorded as failures
become refusals when the ledger is brought up to date."""

from __future__ import annotations

from pathlib import Path

from service.config.model import default_config
from service.ledger.db import ensure_schema
from service.ledger.deployments import REAL, Ledger
from workers.reporters.ledger import LedgerReporter
from workers.runbook.context import DeployContext, Environment, SourceTree
from workers.runbook.engine import Engine
from workers.runbook.events import Outcome
from workers.runbook.step import Refused, Step


async def _refuse(ctx: DeployContext) -> None:
    raise Refused("2 of 3 checklist items do not hold", detail=["the verdict"],
                  output="✗ one\n✗ two\n✓ three", stop_the_line="pre-production checklist not met")


async def _never(ctx: DeployContext) -> None:
    raise AssertionError("a refused run runs nothing after the refusal")


async def test_a_refused_run_is_recorded_refused_not_failed(fresh_db: str) -> None:
    steps = [Step("gates", "Pre-production checklist", _refuse, read_only=True),
             Step("migrate", "Apply migrations", _never)]
    async with Ledger.open(fresh_db) as ledger:
        dep = await ledger.create_deployment(repo="o/r", environment="production",
                                             kind="deploy", commit_sha="f" * 40)
        env = Environment("production", default_config().environments["staging"],
                          None, None, None)  # type: ignore[arg-type]
        ctx = DeployContext(dep, env, SourceTree(Path("."), "f" * 40), default_config(),
                            LedgerReporter(ledger, dep))
        engine = Engine(steps)
        assert await engine.run(ctx) is Outcome.FAILED and engine.refused
        row = await ledger.get(dep)
        assert row is not None
        assert (row["status"], row["record_kind"]) == ("refused", "refused")
        assert row["reason"] == "2 of 3 checklist items do not hold"
        steps_by = {s["name"]: s for s in row["steps"]}
        assert steps_by["gates"]["output"] == "✗ one\n✗ two\n✓ three\n"  # the log, once
        assert steps_by["migrate"]["status"] == "skipped"
        assert await ledger.history(kinds=REAL) == []
        assert [r["id"] for r in await ledger.history(kinds=("refused",))] == [dep]


async def _insert(ledger: Ledger, kind: str, status: str, **extra: str) -> int:
    dep = await ledger.create_deployment(repo="o/r", environment="production", kind=kind,
                                         commit_sha="f" * 40)
    await ledger.finish(dep, status=status, failed_step=extra.get("failed_step"),
                        reason=extra.get("reason"), stop_the_line=extra.get("stop_the_line"))
    return dep


async def test_each_record_has_a_kind_and_histories_list_real_deployments(
        fresh_db: str) -> None:
    async with Ledger.open(fresh_db) as ledger:
        deployed = await _insert(ledger, "deploy", "succeeded")
        failed = await _insert(ledger, "deploy", "rolled_back")
        dry = await _insert(ledger, "dry_run", "planned")
        noop = await _insert(ledger, "deploy", "up_to_date")
        refused = await _insert(ledger, "deploy", "refused")
        undo = await _insert(ledger, "rollback", "succeeded")
        kinds = {r["id"]: r["record_kind"] for r in await ledger.history(limit=50)}
        assert kinds == {deployed: "deploy", failed: "deploy", dry: "dry-run", noop: "noop",
                         refused: "refused", undo: "rollback"}
        real = [r["id"] for r in await ledger.history(kinds=REAL)]
        assert real == [undo, failed, deployed]
        assert [r["id"] for r in await ledger.history(kinds=("noop", "dry-run"))] == [noop, dry]


async def test_refusals_recorded_as_failures_by_earlier_versions_become_refusals(
        fresh_db: str) -> None:
    stop = "pre-production checklist not met"
    async with Ledger.open(fresh_db) as ledger:
        old = await _insert(ledger, "deploy", "failed", failed_step="gates", stop_the_line=stop,
                            reason="Approved (1 approval): reviews cannot be read here")
        told = await _insert(ledger, "deploy", "failed", failed_step="gates",
                             stop_the_line=stop,
                             reason="could not notify the team (RuntimeError); nothing was "
                                    "changed")
        migrate = await _insert(ledger, "deploy", "failed", failed_step="migrate",
                                stop_the_line="migration error", reason="syntax error")
        # a database last set up by an earlier version of the schema
        await ledger.conn.execute("DELETE FROM ledger.schema_applied")
    await ensure_schema(fresh_db)  # what every process does when it starts
    async with Ledger.open(fresh_db) as ledger:
        status = {r["id"]: (r["status"], r["record_kind"])
                  for r in await ledger.history(limit=50)}
    assert status[old] == ("refused", "refused")
    assert status[told] == ("failed", "deploy")  # the team was not told: a real failure
    assert status[migrate] == ("failed", "deploy")


async def test_the_release_an_environment_runs_is_a_real_deployment_not_a_noop(
        fresh_db: str) -> None:
    async with Ledger.open(fresh_db) as ledger:
        first = await _insert(ledger, "deploy", "up_to_date")  # set up before the bot came
        last = await ledger.last_successful("o/r", "production")
        assert last is not None and last["id"] == first
        deployed = await _insert(ledger, "deploy", "succeeded")
        for _ in range(3):
            await _insert(ledger, "deploy", "up_to_date")
        await _insert(ledger, "deploy", "refused")
        await _insert(ledger, "dry_run", "planned")
        last = await ledger.last_successful("o/r", "production")
        assert last is not None and last["id"] == deployed  # what a rollback undoes
