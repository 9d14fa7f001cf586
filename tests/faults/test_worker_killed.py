"""A worker SIGKILLed in the middle of each runbook step: another worker recovers within the
lease expiry — the environment brought back to its state before the deployment, the check
run and the GitHub deployment concluded, the lease free, the lead told when the environment
had changed. Nothing stays in progress."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.app.bot import REPO, post_comment, requests_settled, running_bot, wait_for
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.conftest import REDIS_URL
from tests.faults.worker_main import SPEC_VAR
from tests.fixture_repo import REPO as PROJECT
from tests.fixture_repo import branch_with, commit
from tests.github_server.server import GitHubTestServer
from workers.runbook.snapshot import diff, snapshot

LEASE_TTL = 3.0
LEAD = "@3d3d/backend-leads"
SLOW = "select pg_sleep(60);\n"
# the host takes ages to load this release (it loads, then never serves)
SLOW_FUNCTION = ("await new Promise((resolve) => setTimeout(resolve, 60_000));\n"
                 "Deno.serve(() => new Response());\n")

# the runbook's smoke checks, then one that takes a minute (before the cleanup section)
SLOW_SMOKE = (PROJECT / "tests/backend/smoke.yml").read_text().replace("\ncleanup:", """
  - name: a slow check
    sql: select 1 as one from pg_sleep(60)
    expect:
      rows: [{one: 1}]

cleanup:""")

# the runbook's smoke checks, then a slow one that fails (3 s to take the test's lock)
FAILING_SMOKE = (PROJECT / "tests/backend/smoke.yml").read_text().replace("\ncleanup:", """
  - name: a slow check that fails
    sql: select 1 as one from pg_sleep(3)
    expect:
      rows: [{one: 2}]

cleanup:""")

# (with row level security on: the RLS suite fails any public table without it)
NEW_TABLE = {"migrations/20260401000000_t.sql": "create table public.t1 (id int);\n"
             "alter table public.t1 enable row level security;\n",
             "migrations/rollback/20260401000000_t.sql": "drop table public.t1;\n"}

# step → files that make the deployment dwell in that step long enough to kill the worker
# (the backup dwells on a table lock the test holds)
DWELL: dict[str, dict[str, str]] = {
    "preflight": {"functions/calculate-quote/slow_test.ts":
                  'Deno.test("slow", () => new Promise((done) => setTimeout(done, 60_000)));\n'},
    "migrate": {"migrations/20260401000000_slow.sql": "create table public.t1 (id int);\n"
                + SLOW,
                "migrations/rollback/20260401000000_slow.sql": "drop table public.t1;\n"},
    "functions": {"functions/slow-start/index.ts": SLOW_FUNCTION},
    "backup": NEW_TABLE,
    # With pending migrations the suite runs inside their transaction, in `migrate` (the
    # kill there is the case above): here a release of functions alone, tested after it.
    "verify": {"functions/hello/index.ts": "Deno.serve(() => new Response('hello'));\n",
               "tests/backend/rls_suite.sql": SLOW},
    "smoke": {**NEW_TABLE, "tests/backend/smoke.yml": SLOW_SMOKE},
    # report does no I/O of its own to dwell on: the victim pauses before it (worker_main)
    "report": NEW_TABLE,
    # not a step: the undo after smoke fails, killed while reverting the migration (which
    # waits for the test's lock on the new table)
    "undo": {**NEW_TABLE, "tests/backend/smoke.yml": FAILING_SMOKE},
}


def step_status(bot_db: str, step: str) -> str | None:
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("select status from ledger.deployment_steps where name = %s "
                           "order by deployment_id desc limit 1", (step,)).fetchone()
    return row[0] if row else None


def undo_status(bot_db: str, step: str) -> str | None:
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("select undo_status from ledger.deployment_steps where name = %s "
                           "order by deployment_id desc limit 1", (step,)).fetchone()
    return row[0] if row else None


def steps_now(bot_db: str) -> str:
    with psycopg.connect(bot_db) as conn:
        rows = conn.execute("select name, status, message from ledger.deployment_steps "
                            "where deployment_id = (select max(id) from ledger.deployments) "
                            "order by position").fetchall()
    return "; ".join(f"{n}={s} {m[:200]}" for n, s, m in rows)


def lease_count(bot_db: str) -> int:
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("select count(*) from ledger.leases").fetchone()
    return int(row[0]) if row else 0


def deployment(bot_db: str) -> dict[str, Any]:
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("select status, reason, stop_the_line, id from ledger.deployments "
                           "order by id desc limit 1").fetchone()
    assert row is not None
    return {"status": row[0], "reason": row[1], "stop": row[2], "id": row[3]}


def incidents(github_server: GitHubTestServer, pr: int) -> list[str]:
    return [c["body"] for c in github_server.state.repo(REPO).comments_on(pr)
            if "Stop the line" in c["body"]]


def last_deployment_state(github_server: GitHubTestServer, sha: str) -> str | None:
    repo = github_server.state.repo(REPO)
    github_deployment = next((d for d in repo.deployments.values() if d["sha"] == sha), None)
    if github_deployment is None:
        return None
    states = [x["state"] for x in repo.deployment_statuses.get(github_deployment["id"], [])]
    return states[-1] if states else None


@pytest.mark.parametrize("step", list(DWELL))
async def test_worker_killed_during_a_step_is_recovered(
        step: str, world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer, tmp_path: Path) -> None:
    repo: Path = world["repo"]
    config = repo / ".github/deploybot.yml"  # staging has a lead: a recovery escalates
    config.write_text(config.read_text().replace(
        "    deploy_on_push: [main]\n", f'    deploy_on_push: [main]\n    lead: "{LEAD}"\n'))
    commit(repo, "staging has a lead")
    good = branch_with(repo, "good", {"README.md": "x\n"})
    github_server.state.add_pull(REPO, 60, head_sha=good, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"],
                           lease_ttl=LEASE_TTL) as bot:
        # a first deployment gives staging a state worth keeping
        await bot.send("issue_comment", post_comment(github_server, "/deploy staging", pr=60))
        await wait_for(lambda: [r for r in github_server.state.repo(REPO).check_runs.values()
                                if r.get("conclusion") == "success"], what="the first deploy")
        await wait_for(lambda: requests_settled(world["bot"]), what="its job to end")
        if step == "backup":
            with psycopg.connect(os.environ["STAGING_DATABASE_URL"], autocommit=True) as c:
                c.execute("create table deploybot.dwell (id int)")
        before = await snapshot(os.environ["STAGING_DATABASE_URL"])
        await bot.stop_worker()

        slow = branch_with(repo, f"slow-{step}", DWELL[step], base="good")
        github_server.state.add_pull(REPO, 61, head_sha=slow, user_login="alice")
        spec = {"database_url": world["bot"], "redis_url": REDIS_URL, "prefix": redis_prefix,
                "data_dir": str(world["data"]), "app_id": github_server.app_id,
                "private_key": github_server.private_key, "api_url": github_server.url,
                "lease_ttl": LEASE_TTL,
                "pause_before": "report" if step == "report" else None}
        victim_log = (tmp_path / "victim.log").open("w")  # its arq log, to read on failure
        victim = subprocess.Popen(  # noqa: ASYNC220  (started once, killed below)
            [sys.executable, "-m", "tests.faults.worker_main"], cwd=PROJECT,
            env={**os.environ, SPEC_VAR: json.dumps(spec)},
            stdout=subprocess.DEVNULL, stderr=victim_log)
        blocker = None
        if step == "backup":  # pg_dump waits for this lock until we let go
            # (on a table of deploybot's own schema, made before `before`: preflight's
            # fingerprint leaves it out, so the deployment passes preflight, waits in backup)
            blocker = psycopg.connect(os.environ["STAGING_DATABASE_URL"])
            blocker.execute("lock table deploybot.dwell in access exclusive mode")
        try:
            await bot.send("issue_comment", post_comment(github_server, "/deploy staging",
                                                         pr=61))
            if step == "undo":
                await wait_for(lambda: deployment(world["bot"])["id"] > 1
                               and step_status(world["bot"], "migrate") == "succeeded",
                               what="the migration")
                blocker = psycopg.connect(os.environ["STAGING_DATABASE_URL"])
                blocker.execute("lock table public.t1 in access share mode")
                await wait_for(lambda: undo_status(world["bot"], "migrate") == "running",
                               what=f"the undo of migrate ({steps_now(world['bot'])})")
            else:
                await wait_for(lambda: step_status(world["bot"], step) == "running",
                               what=f"the deployment to reach {step} "
                                    f"({steps_now(world['bot'])})")
            await asyncio.sleep(0.5)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        finally:
            if victim.poll() is None:
                victim.kill()
            if blocker is not None:
                blocker.close()
            victim_log.close()
        bot.start_worker()  # the survivor: its reconciler recovers after the lease expires
        await wait_for(lambda: deployment(world["bot"])["status"] not in ("running", "queued"),
                       what="the recovery")
        runs = [r for r in github_server.state.repo(REPO).check_runs.values()
                if r["head_sha"] == slow]
        await wait_for(lambda: all(r.get("status") == "completed" for r in runs),
                       what="the check run to conclude")
        await wait_for(lambda: lease_count(world["bot"]) == 0, what="the lease to be freed")
        # the deployment status follows the check run in the same report: wait for it too,
        # or leaving this block stops the worker between the two
        await wait_for(lambda: last_deployment_state(github_server, slow)
                       not in (None, "queued", "in_progress"),
                       what="the GitHub deployment's final status")
        if deployment(world["bot"])["status"] in ("rolled_back", "rollback_failed"):
            await wait_for(lambda: incidents(github_server, 61), what="the escalation")
    dep = deployment(world["bot"])
    with psycopg.connect(world["bot"]) as conn:
        assert conn.execute("select count(*) from ledger.leases").fetchone() == (0,)
        assert conn.execute("select count(*) from ledger.requests where status = 'running'"
                            ).fetchone() == (0,)
    after = await snapshot(os.environ["STAGING_DATABASE_URL"])
    if step == "report":  # every check had passed: the survivor finishes the deployment
        assert dep["status"] == "succeeded", dep
        assert "only `report` left, every check passed: deploybot finished it" in dep["reason"]
        assert runs[0]["conclusion"] == "success"
        assert "public.t1" in after.schema and "public.t1" not in before.schema
        assert last_deployment_state(github_server, slow) == "success"
        assert not github_server.state.repo(REPO).issues
        return
    expected = "failed" if step in ("preflight", "backup") else "rolled_back"
    assert dep["status"] == expected, dep
    assert dep["stop"] == "worker stopped"
    if step == "undo":  # undone again, from the journal, by the survivor
        assert "while undoing step `migrate`" in dep["reason"], dep
    assert diff(before, after, sequences=False) == []
    assert runs[0]["conclusion"] == "failure"
    issues = list(github_server.state.repo(REPO).issues.values())
    if expected == "failed":  # nothing had changed: nobody needs waking
        assert not issues and not incidents(github_server, 61)
        return
    # the lead is told, once, with a post-mortem issue, as for any stop-the-line failure
    assert len(issues) == 1, issues
    assert issues[0]["title"].startswith(f"Post-mortem: staging deployment #{dep['id']}")
    assert "worker stopped" in issues[0]["body"] and "rolled back" in issues[0]["body"]
    text = incidents(github_server, 61)
    assert len(text) == 1 and LEAD in text[0] and f"#{issues[0]['number']}" in text[0]
