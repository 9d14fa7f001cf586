"""The watch end to end: the real webhook endpoint, a real arq worker on real Redis, real
PostgreSQL, function hosts started for the samples, and the test GitHub server. The
calculate-quote function of a pull request is made slow (2.5 s), over the runbook's 2 s
latency threshold; the smoke step has no latency threshold (its HTTP timeout is 30 s), so
the deployment itself succeeds and only the watch can catch it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.app.bot import REPO, button_payload, post_comment, running_bot, wait_for
from tests.conftest import REPO as PROJECT
from tests.conftest import create_database, database_url, drop_database, prepare_environment
from tests.fixture_repo import branch_with, git, make_repo
from tests.github_server.server import GitHubTestServer
from workers.runbook.snapshot import EnvironmentSnapshot, diff, snapshot

HANDLER = "functions/calculate-quote/index.ts"

STAGING = """\
default_branch: main
environments:
  staging:
    database_url_env: STAGING_DATABASE_URL
    anon_key_env: STAGING_ANON_KEY
    watch:
      window: 3s
      interval: 1s
"""

CANARY = """\
default_branch: main
environments:
  canary:
    database_url_env: CANARY_DATABASE_URL
    anon_key_env: CANARY_ANON_KEY
    lead: "@octo/backend-leads"
    watch:
      window: 1m
      interval: 1s
      auto_rollback: false
"""


def slow_handler() -> str:
    """calculate-quote, answering 2.5 s late once the quote is stored (requests without a
    database, like the function's own unit tests make, stay fast)."""
    text = (PROJECT / HANDLER).read_text()
    anchor = "  return jsonResponse(200, renderQuote(stored, breakdown));"
    assert anchor in text
    return text.replace(anchor, "  await new Promise((resolve) => setTimeout(resolve, 2500));"
                                "  // slow, for the watch\n" + anchor)


def make_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: GitHubTestServer,
               env: str, config: str) -> Iterator[dict[str, Any]]:
    names = [create_database("bot"), create_database(env[:3])]
    bot, target = (database_url(n) for n in names)
    target = prepare_environment(target)
    monkeypatch.setenv(f"{env.upper()}_DATABASE_URL", target)
    monkeypatch.setenv(f"{env.upper()}_ANON_KEY", "anon-key-for-tests")
    repo = make_repo(tmp_path / "repo", config=config)
    github.state.add_repo(REPO, git=repo)
    github.state.set_permission(REPO, "alice", "write")
    try:
        yield {"bot": bot, "env": target, "repo": repo, "data": tmp_path / "data"}
    finally:
        for n in names:
            drop_database(n)


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    yield from make_world(tmp_path, monkeypatch, github_server, "staging", STAGING)


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           github_server: GitHubTestServer) -> Iterator[dict[str, Any]]:
    yield from make_world(tmp_path, monkeypatch, github_server, "canary", CANARY)


def rows(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, args).fetchall()


def request_of(bot_db: str, pr: int, kind: str = "deploy") -> dict[str, Any] | None:
    found = rows(bot_db, "select r.*, d.status as deployment_status from ledger.requests r "
                 "left join ledger.deployments d on d.id = r.deployment_id "
                 "where r.pr_number is not distinct from %s and r.kind = %s order by r.id",
                 pr, kind)
    return found[-1] if found else None


def finished(bot_db: str, pr: int) -> dict[str, Any] | None:
    req = request_of(bot_db, pr)
    final = ("succeeded", "failed", "rolled_back", "rollback_failed", "up_to_date")
    return req if req and req["status"] == "done" and req["deployment_status"] in final \
        else None


def watch_of(bot_db: str, deployment_id: int) -> dict[str, Any] | None:
    found = rows(bot_db, "select w.*, b.handled_at, b.rollback_request_id, b.summary "
                 "from ledger.watches w left join ledger.watch_breaches b using "
                 "(deployment_id) where w.deployment_id = %s", deployment_id)
    return found[0] if found else None


def without_release_store(s: EnvironmentSnapshot) -> EnvironmentSnapshot:
    """The snapshot without the function release store, which keeps every release by design
    (a rollback moves the active pointer back; `active_release` still compares it)."""
    tables = {k: v for k, v in s.tables.items() if not k.startswith("deploybot.")}
    return EnvironmentSnapshot(s.server_version_num, s.schema, tables, s.history,
                               s.active_release, s.sequences)


async def deploy_from_pr(bot: Any, github: GitHubTestServer, bot_db: str, pr: int, sha: str,
                         env: str) -> dict[str, Any]:
    github.state.add_pull(REPO, pr, head_sha=sha, user_login="alice")
    await bot.send("issue_comment", post_comment(github, f"/deploy {env}", pr=pr))
    req = await wait_for(lambda: finished(bot_db, pr), what=f"the deployment from #{pr}")
    assert req["deployment_status"] == "succeeded", req
    return req


async def test_a_slow_function_on_staging_is_rolled_back_by_the_watch(
        staging: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    bot_db = staging["bot"]
    main = git(Path(staging["repo"]), "rev-parse", "main")
    slow = branch_with(staging["repo"], "slow", {HANDLER: slow_handler()})
    async with running_bot(github_server, bot_db, redis_prefix, staging["data"]) as bot:
        # A good deployment first: its watch passes (3 s of samples, the probe's quotes
        # removed each time), and what it leaves is the state to come back to.
        base = await deploy_from_pr(bot, github_server, bot_db, 1, main, "staging")
        passed = await wait_for(
            lambda: (w := watch_of(bot_db, base["deployment_id"])) and w["status"] != "watching"
            and w, what="the first deployment's watch to end")
        assert passed["status"] == "passed", passed
        await wait_for(lambda: "**Passed**" in github_server.state.repo(REPO).check_runs[
            base["check_run_id"]]["output"]["summary"], what="the watch's verdict on GitHub")
        before = await snapshot(staging["env"])

        slow_req = await deploy_from_pr(bot, github_server, bot_db, 2, slow, "staging")
        dep_id = slow_req["deployment_id"]
        rollback = await wait_for(
            lambda: (r := request_of(bot_db, None, "rollback")) and r["status"] == "done"
            and r, what="the automatic rollback")
        watch = await wait_for(lambda: (w := watch_of(bot_db, dep_id)) and w["handled_at"]
                               and w, what="the breach to be reported")
    after = await snapshot(staging["env"])

    assert watch["status"] == "breached" and "latency p95" in watch["summary"]
    assert watch["rollback_request_id"] == rollback["id"]
    assert rollback["trigger"] == "watch" and rollback["rollback_target"] == dep_id
    assert rollback["deployment_status"] == "succeeded"
    samples = rows(bot_db, "select * from ledger.watch_samples where deployment_id = %s "
                   "order by seq", dep_id)
    assert samples[-1]["latency_p95_ms"] > 2000 and samples[-1]["probe_status"] == 200
    assert [b["metric"] for b in samples[-1]["breaches"]] == ["latency_p95_ms"]
    good = rows(bot_db, "select * from ledger.watch_samples where deployment_id = %s",
                base["deployment_id"])
    assert good and all(s["breaches"] == [] and s["probe_status"] == 200 for s in good)

    gh = github_server.state.repo(REPO)
    comments = [c["body"] for c in gh.comments_on(2) if f"deploybot:watch:{dep_id}" in c["body"]]
    assert len(comments) == 1
    assert "latency p95" in comments[0] and "Rolling back automatically" in comments[0]
    # failure naming the breach; then inactive, once the rollback's deployment succeeded
    statuses = gh.deployment_statuses[slow_req["gh_deployment_id"]]
    failures = [s for s in statuses if s["state"] == "failure"]
    assert len(failures) == 1 and "latency p95" in failures[0]["description"]
    run = gh.check_runs[slow_req["check_run_id"]]
    assert run["conclusion"] == "failure" and "### Watch" in run["output"]["summary"]
    assert run["actions"] == []  # a rollback is on its way: no buttons
    base_run = gh.check_runs[base["check_run_id"]]
    assert base_run["conclusion"] == "success" and "**Passed**" in base_run["output"]["summary"]

    # Staging is as it was before the slow deployment: schema, migration history, active
    # function release and every row: the rollback also removed the quote the slow
    # deployment's own smoke test created (its cleanup is in the deployment's journal), and
    # none of the probes' quotes is left.
    changes = diff(without_release_store(before), without_release_store(after),
                   sequences=False)
    assert changes == [], changes
    github_server.assert_no_validation_errors()


async def test_auto_rollback_off_offers_the_button_and_mentions_the_lead(
        canary: dict[str, Any], redis_prefix: str, github_server: GitHubTestServer) -> None:
    bot_db = canary["bot"]
    slow = branch_with(canary["repo"], "slow", {HANDLER: slow_handler()})
    async with running_bot(github_server, bot_db, redis_prefix, canary["data"]) as bot:
        req = await deploy_from_pr(bot, github_server, bot_db, 3, slow, "canary")
        dep_id = req["deployment_id"]
        watch = await wait_for(lambda: (w := watch_of(bot_db, dep_id)) and w["handled_at"]
                               and w, what="the breach to be reported")
        assert request_of(bot_db, None, "rollback") is None
        assert request_of(bot_db, 3, "rollback") is None
        gh = github_server.state.repo(REPO)
        run = gh.check_runs[req["check_run_id"]]
        assert [a["identifier"] for a in run["actions"]] == ["rollback"]
        assert run["conclusion"] == "failure" and "### Watch" in run["output"]["summary"]
        assert "Auto rollback is off" in run["output"]["summary"]
        comment = next(c["body"] for c in gh.comments_on(3)
                       if f"deploybot:watch:{dep_id}" in c["body"])
        assert "@octo/backend-leads **`canary` is over the watch thresholds**" in comment
        assert "Auto rollback is off for `canary`" in comment
        assert f"/rollback canary {dep_id}" in comment
        assert gh.deployment_statuses[req["gh_deployment_id"]][-1]["state"] == "failure"

        # The button works: a person rolls back.
        await bot.send("check_run", button_payload(int(req["check_run_id"]), "rollback"))
        rollback = await wait_for(
            lambda: (r := request_of(bot_db, 3, "rollback")) and r["status"] == "done" and r,
            what="the rollback from the button")
    assert watch["status"] == "breached" and watch["rollback_request_id"] is None
    assert rollback["deployment_status"] == "succeeded" and rollback["trigger"] == "button"
    tables = rows(canary["env"], "select count(*) as n from pg_tables where schemaname = "
                  "'public'")
    assert tables == [{"n": 0}]  # canary was empty before the deployment, and is again
    github_server.assert_no_validation_errors()
