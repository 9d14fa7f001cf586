"""The pre-production checklist's items are pure functions of the environment and the
facts gathered: each is judged here on its own, without a deployment around it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.config.model import EnvironmentConfig
from workers.gates.checklist import (
    approvals,
    backup_configured,
    checks_green,
    deploy_window,
    evaluate,
    leaked_password_protection,
    staging_passed,
)
from workers.gates.facts import GateFacts

SHA = "abc1234" + "0" * 33
OTHER = "def5678" + "0" * 33
PROD = EnvironmentConfig(name="production", database_url_env="PRODUCTION_DATABASE_URL",
                         production=True, approvals=1,
                         requires_staging="staging", deploy_window="Mon-Fri 09:00-17:00 UTC")
MONDAY_NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def facts(**kw: Any) -> GateFacts:
    base: dict[str, Any] = {"environment": "production", "commit": SHA, "now": MONDAY_NOON}
    return GateFacts(**{**base, **kw})


def deployment(id_: int, status: str, **steps: str) -> dict[str, Any]:
    return {"id": id_, "status": status,
            "steps": {"verify": "succeeded", "smoke": "succeeded", **steps}}


def review(login: str, state: str, commit: str = SHA, at: str = "2026-12-01T10:00:00Z"
           ) -> dict[str, Any]:
    return {"user": {"login": login}, "state": state, "commit_id": commit, "submitted_at": at}


def test_staging_names_the_deployment_whose_tests_ran() -> None:
    ok = staging_passed(PROD, facts(staging=deployment(7, "succeeded")))
    assert ok.ok and ok.reason == "RLS and smoke tests passed in #7 on `staging`"
    # A no-op redeploy ran no tests: the gate cites the deployment that made that state.
    noop = {**deployment(9, "up_to_date"), "tested_in": deployment(7, "succeeded")}
    cited = staging_passed(PROD, facts(staging=noop))
    assert cited.ok and cited.reason.startswith("RLS and smoke tests passed in #7 on")
    assert "#9" not in cited.reason


def test_staging_fails_when_no_tests_ran_or_they_did_not_pass() -> None:
    assert not staging_passed(PROD, facts()).ok  # never deployed there
    untested = staging_passed(PROD, facts(staging={**deployment(9, "up_to_date"),
                                                   "tested_in": None}))
    assert not untested.ok and "no deployment there ran the RLS and smoke tests" in \
        untested.reason
    noop_after_skip = {**deployment(9, "up_to_date"),
                       "tested_in": deployment(7, "succeeded", verify="skipped")}
    failed = staging_passed(PROD, facts(staging=noop_after_skip))
    assert not failed.ok and failed.reason == "#7 did not pass verify on `staging`"
    rolled = staging_passed(PROD, facts(staging=deployment(8, "rolled_back")))
    assert not rolled.ok and "(#8) is rolled_back" in rolled.reason
    assert rolled.fix.startswith("Deploy `abc1234` to `staging` first")


def test_approvals_count_write_reviewers_on_this_commit_only() -> None:
    reviews = [review("dora", "APPROVED"), review("rea", "APPROVED"),
               review("olde", "APPROVED", commit=OTHER)]
    perms = {"dora": "write", "rea": "read", "olde": "admin"}
    got = approvals(PROD, facts(reviews=reviews, reviewer_permissions=perms, pr_author="al"))
    assert got.ok and got.reason == "approved by @dora on `abc1234`"
    none = approvals(PROD, facts(reviews=reviews[1:], reviewer_permissions=perms))
    assert not none.ok
    assert "@rea has read permission, not write" in none.reason
    assert "@olde approved `def5678`, not `abc1234`" in none.reason
    blocked = approvals(PROD, facts(reviews=[*reviews, review("eve", "CHANGES_REQUESTED")],
                                    reviewer_permissions=perms))
    assert not blocked.ok and blocked.reason == "changes requested by @eve"
    assert not approvals(PROD, facts()).ok  # reviews unknown (the CLI): not met


def test_checks_must_be_completed_and_green_except_our_own() -> None:
    green = {"statuses": [{"context": "ci", "state": "success"}]}
    runs = [{"name": "tests", "status": "completed", "conclusion": "success"},
            {"name": "deploybot/staging", "status": "in_progress"}]
    assert checks_green(PROD, facts(combined_status=green, check_runs=runs)).ok
    red = checks_green(PROD, facts(combined_status=green, check_runs=[
        {"name": "tests", "status": "completed", "conclusion": "failure"}]))
    assert not red.ok and red.reason == "failing: tests (failure)"
    waiting = checks_green(PROD, facts(combined_status={"statuses": [
        {"context": "ci", "state": "pending"}]}, check_runs=[]))
    assert not waiting.ok and waiting.reason == "still running: ci"


def test_the_deploy_window_is_judged_in_its_own_time_zone() -> None:
    assert deploy_window(PROD, facts()).ok
    shut = deploy_window(PROD, facts(now=SATURDAY))
    assert not shut.ok and not shut.forced and shut.reason == "now is Sat 12:00 UTC"
    assert deploy_window(PROD, facts(now=SATURDAY, forced_reason="outage")).forced


def test_backups_and_leaked_password_protection() -> None:
    assert backup_configured(PROD, facts()).ok
    off = EnvironmentConfig(name="production", database_url_env="PRODUCTION_DATABASE_URL",
                            production=True, backup=False)
    assert not backup_configured(off, facts()).ok
    assert leaked_password_protection(PROD, facts(hibp_enabled=True)).ok
    assert not leaked_password_protection(PROD, facts(hibp_enabled=False)).ok
    confirmed = leaked_password_protection(PROD, facts(hibp_confirmation={
        "confirmed_by": "lead", "confirmed_at": MONDAY_NOON}))
    assert confirmed.ok and confirmed.reason == "confirmed by @lead on 2026-12-07"
    unconfirmed = leaked_password_protection(PROD, facts())
    assert not unconfirmed.ok and "/confirm production leaked-password-protection" in \
        unconfirmed.fix


def test_an_operators_force_on_the_cli_stands_in_only_for_what_github_tells() -> None:
    results = {r.key: r for r in evaluate(PROD, facts(source="cli", forced_reason="outage",
                                                      now=SATURDAY))}
    assert all(results[k].forced for k in ("approvals", "checks", "window"))
    assert not results["staging"].forced and not results["staging"].ok


async def test_gathering_finds_the_deployment_a_no_op_found(fresh_db: str) -> None:
    from service.ledger.deployments import Ledger
    from workers.gates.gather import staging_record

    async with Ledger.open(fresh_db) as ledger:
        async def record(status: str, commit: str, kind: str = "deploy") -> int:
            dep = await ledger.create_deployment(
                repo="o/r", environment="staging", kind=kind, commit_sha=commit,
                steps=[("verify", "Verify"), ("smoke", "Smoke")])
            if status == "succeeded":
                for step in ("verify", "smoke"):
                    await ledger.update_step(dep, step, status="succeeded")
            await ledger.finish(dep, status=status)
            return dep

        tested = await record("succeeded", OTHER)  # the same content, an earlier commit
        await record("up_to_date", SHA)
        found = await staging_record(ledger, "o/r", "staging", SHA)
        assert found is not None and found["status"] == "up_to_date"
        assert found["tested_in"]["id"] == tested
        assert staging_passed(PROD, facts(staging=found)).reason.startswith(
            f"RLS and smoke tests passed in #{tested} on `staging`")
        # After a rollback, a no-op found what the rollback put back: no tests ran on it.
        await record("succeeded", OTHER, kind="rollback")
        await record("up_to_date", SHA)
        again = await staging_record(ledger, "o/r", "staging", SHA)
        assert again is not None and again["tested_in"] is None
