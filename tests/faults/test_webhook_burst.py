"""The load fault: 2,000 signed webhook deliveries in a burst while deployments run. Every
one is acknowledged with a 2xx, every one the intake records is in the ledger once and
handled once, every command is answered once, the deployments still succeed — and a storm
of 200 redeliveries of the same ids changes nothing. The acknowledgement latency is printed
(pytest -s), never asserted."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.app.bot import (
    REPO,
    SECRET,
    post_comment,
    pull_request_payload,
    running_bot,
    wait_for,
)
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.faults.burst import Ack, Delivery, delivery, filler, fire, summary
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from workers import messages

TOTAL = 2000
IN_FLIGHT = 64
COMMAND_PRS = range(100, 120)  # each gets 5 × /help and 5 × /wcid
DEPLOY_PRS = (91, 92)
STORM = 200
ANSWERS = {"help": "**deploybot commands**", "wcid": "**What can I deploy?**"}
# the second deployment brings a migration: it has work to do after the first one
MIGRATION = "migrations/20260401000000_add_burst_note.sql"


async def ledger_rows(url: str) -> dict[str, dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        cur = await conn.execute("SELECT id, status, result, attempts, received_at, "
                                 "processed_at FROM ledger.deliveries")
        return {r["id"]: r for r in await cur.fetchall()}


async def deployments(url: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        cur = await conn.execute("SELECT id, pr_number, status, started_at, finished_at "
                                 "FROM ledger.deployments ORDER BY id")
        return await cur.fetchall()


def comment_of(d: Delivery) -> int:
    return int(json.loads(d.body)["comment"]["id"])


def github_snapshot(github: GitHubTestServer) -> tuple[Any, ...]:
    repo = github.state.repo(REPO)
    return (len(repo.comments), sum(len(r) for r in repo.reactions.values()),
            len(repo.check_runs), len(repo.deployments))


async def fire_apart(url: str, batch: list[Delivery]) -> tuple[list[Ack], float]:
    """The client on an event loop of its own: the worker's jobs on the test's loop must not
    delay sending or reading the answers (that would count as acknowledgement latency)."""
    fired = await asyncio.to_thread(asyncio.run, fire(url, batch, SECRET,
                                                      concurrency=IN_FLIGHT))
    return fired.acks, fired.wall


def assert_acknowledged(acks: list[Ack], *, duplicates: bool) -> None:
    failed = [(a.delivery.kind, a.status, a.answer) for a in acks if not 200 <= a.status < 300]
    assert not failed, f"{len(failed)} deliveries not acknowledged, e.g. {failed[:5]}"
    for a in acks:
        if a.delivery.recorded:
            assert a.answer.get("accepted") == a.delivery.id, a.answer
            assert bool(a.answer.get("duplicate")) is duplicates, a.answer


async def test_a_burst_of_2000_webhooks_while_deploying(
        world: dict[str, Any], redis_prefix: str,  # noqa: F811
        github_server: GitHubTestServer) -> None:
    state, inst = github_server.state, github_server.installation_id
    sha = branch_with(world["repo"], "feature", {"README.md": "x\n"})
    newer = branch_with(world["repo"], "note", {
        MIGRATION: "alter table public.quotes add column burst_note text;\n",
        MIGRATION.replace("migrations/", "migrations/rollback/"):
            "alter table public.quotes drop column if exists burst_note;\n"})
    for pr in (*DEPLOY_PRS, *COMMAND_PRS):
        state.add_pull(REPO, pr, head_sha=newer if pr == DEPLOY_PRS[1] else sha,
                       user_login="alice")
    # GitHub announced each pull request as it was opened (the bot records its head)
    opened = [delivery("pull_request", pull_request_payload(github_server, "opened", pr),
                       "opened") for pr in DEPLOY_PRS]
    first, second = (delivery("issue_comment", post_comment(github_server, "/deploy staging",
                                                            pr=pr), "deploy")
                     for pr in DEPLOY_PRS)
    commands = [delivery("issue_comment", post_comment(github_server, f"/{name}", pr=pr), name)
                for pr in COMMAND_PRS for name in ("help", "wcid") for _ in range(5)]
    burst = commands + filler(TOTAL - len(commands) - 1, repo=REPO, installation_id=inst)
    random.Random(11).shuffle(burst)
    burst.insert(TOTAL // 2, second)  # the second deployment is asked for mid-burst
    assert len(burst) == TOTAL and len({d.id for d in burst}) == TOTAL

    async with running_bot(github_server, world["bot"], redis_prefix,
                           world["data"]) as bot:
        url = f"{bot.url}/webhooks"
        assert_acknowledged((await fire_apart(url, [*opened, first]))[0], duplicates=False)
        await wait_for(lambda: state.repo(REPO).check_runs, what="the first deployment")
        began = datetime.now(UTC)
        acks, wall = await fire_apart(url, burst)
        acked = datetime.now(UTC)
        print(f"\nburst: {summary(acks, wall)}")
        assert_acknowledged(acks, duplicates=False)

        recorded = {d.id: d for d in [*opened, first, *burst] if d.recorded}
        rows: dict[str, dict[str, Any]] = {}

        async def all_handled() -> bool:
            rows.update(await ledger_rows(world["bot"]))
            return all(r["status"] == "processed" for r in rows.values())

        def deployed() -> bool:  # the last report of a deployment is its final reaction
            return all(len(state.repo(REPO).reactions.get(comment_of(d), [])) == 2
                       for d in (first, second))

        deadline = time.monotonic() + 150
        while not (await all_handled() and deployed()):
            assert time.monotonic() < deadline, "the burst was not handled within 150 s"
            await asyncio.sleep(0.2)
        handled = datetime.now(UTC)
        print(f"every delivery handled {(handled - began).total_seconds():.1f} s after the "
              f"burst began (acknowledged after {(acked - began).total_seconds():.1f} s)")
        for dep in await deployments(world["bot"]):
            print(f"deployment #{dep['id']} (PR {dep['pr_number']}) {dep['status']}: ran "
                  f"{(dep['started_at'] - began).total_seconds():+.1f} s to "
                  f"{(dep['finished_at'] - began).total_seconds():+.1f} s from the burst")
        mid = rows[second.id]
        print(f"the mid-burst /deploy arrived at "
              f"{(mid['received_at'] - began).total_seconds():+.1f} s and was handled at "
              f"{(mid['processed_at'] - began).total_seconds():+.1f} s (behind the backlog)")

        # recorded exactly once, each handled by one claim, ignored events not recorded
        assert set(rows) == set(recorded), (len(rows), len(recorded))
        assert [r for r in rows.values() if r["attempts"] != 1] == []
        expected = {"chatter": "no command", "closed": "closed without merging",
                    "help": "help", "wcid": "wcid"}
        for ident, d in recorded.items():
            if d.kind in expected:
                assert rows[ident]["result"] == expected[d.kind], (d.kind, rows[ident])
            elif d.kind == "push":
                assert rows[ident]["result"].startswith("no environment deploys"), rows[ident]

        # every command answered once: one 👀 on it, one reply per command on its PR
        repo = state.repo(REPO)
        for d in commands:
            assert [r["content"] for r in repo.reactions.get(comment_of(d), [])] == ["eyes"]
        for pr in COMMAND_PRS:
            ours = [c["body"] for c in repo.comments_on(pr) if messages.BOT_MARKER in c["body"]]
            assert len(ours) == 10 and all(
                sum(mark in body for body in ours) == 5 for mark in ANSWERS.values()), ours

        # the deployments running meanwhile succeeded, one per PR
        assert sorted((d["pr_number"], d["status"]) for d in await deployments(world["bot"])
                      ) == [(pr, "succeeded") for pr in DEPLOY_PRS]
        assert [r["conclusion"] for r in repo.check_runs.values()] == ["success", "success"]
        assert [[r["content"] for r in repo.reactions[comment_of(d)]] for d in (first, second)
                ] == [["eyes", "rocket"]] * 2
        assert [sum("deploybot:deployment:" in c["body"] for c in repo.comments_on(pr))
                for pr in DEPLOY_PRS] == [1, 1]

        # a redelivery storm: the same ids again, acknowledged, nothing done twice
        before, seen = dict(rows), github_snapshot(github_server)
        storm = [first, second, *random.Random(5).sample(burst, STORM - 2)]
        storm_acks, storm_wall = await fire_apart(url, storm)
        print(f"redelivery storm: {summary(storm_acks, storm_wall)}")
        assert_acknowledged(storm_acks, duplicates=True)
        await bot.reconciler_turns(3)  # a duplicate would show up by now
        assert await ledger_rows(world["bot"]) == before
        assert github_snapshot(github_server) == seen
    github_server.assert_no_validation_errors()
