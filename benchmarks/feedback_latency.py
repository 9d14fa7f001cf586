"""Feedback latency: how long a person waits after commenting `/deploy staging`.

Run by hand:  .venv/bin/python benchmarks/feedback_latency.py [--comments 20]

The bot (web app and one worker, production settings, in this process) against the test
GitHub server, one comment at a time with the worker idle: each `/deploy staging --noop`
(preflight and the plan; the check run and deployment are made as for a real run) on a pull
request of its own, whose `pull_request.opened` delivery was sent and handled beforehand (as
GitHub sends it when the pull request is opened). Measured from sending the comment's signed
delivery to the bot's intake (the HTTP client already made) to the test server receiving (its
request log):

  ack          the intake's 202;
  reaction     the 👀 reaction on the comment;
  in_progress  the check run created or updated with status `in_progress`.

Prints p50/p95/max of each against the targets (👀 p95 < 300 ms, in_progress < 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.webhooks.signature import sign  # noqa: E402
from tests.app.bot import (  # noqa: E402
    REPO,
    SECRET,
    post_comment,
    running_bot,
    unannounced_pull,
    wait_for,
)
from tests.conftest import SHIM  # noqa: E402
from tests.faults.burst import percentile  # noqa: E402
from tests.fixture_repo import branch_with, make_repo  # noqa: E402
from tests.github_server.keys import generate_app_keys  # noqa: E402
from tests.github_server.server import GitHubTestServer  # noqa: E402

ADMIN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _db(name: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def run(comments: int) -> None:
    names = [f"bench_bot_{uuid.uuid4().hex[:8]}", f"bench_stg_{uuid.uuid4().hex[:8]}"]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        for n in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(n)))
    bot_db, staging = (_db(n) for n in names)
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute(SHIM.read_text())
    os.environ["STAGING_DATABASE_URL"] = staging
    os.environ["STAGING_ANON_KEY"] = "anon-key-for-bench"
    tmp = Path(tempfile.mkdtemp(prefix="deploybot-feedback-"))
    rows: list[tuple[float, float, float]] = []
    try:
        with GitHubTestServer.running(generate_app_keys()) as github:
            repo = make_repo(tmp / "repo")
            github.state.add_repo(REPO, git=repo)
            github.state.set_permission(REPO, "alice", "write")
            prefix = f"bench:{uuid.uuid4().hex[:8]}:"
            async with running_bot(github, bot_db, prefix, tmp / "data") as bot:
                for i in range(comments + 1):  # the first one warms up, uncounted
                    pr = 300 + i
                    sha = branch_with(repo, f"feedback-{i}", {"README.md": f"{i}\n"})
                    github.state.add_pull(REPO, pr, head_sha=sha, user_login="alice")
                    payload = post_comment(github, "/deploy staging --noop", pr=pr)
                    comment_id = payload["comment"]["id"]
                    # GitHub sent `pull_request.opened` when the pull request was opened,
                    # long before the comment: sent and handled before the clock starts.
                    opened = unannounced_pull(github, payload, bot.announced)
                    if opened is not None:
                        await bot.send("pull_request", opened)
                        await asyncio.sleep(0.3)
                    body = json.dumps(payload).encode()
                    headers = {"X-GitHub-Event": "issue_comment",
                               "X-GitHub-Delivery": str(uuid.uuid4()),
                               "Content-Type": "application/json",
                               "X-Hub-Signature-256": sign(SECRET, body)}
                    # The client (its TLS context: tens of ms) made before the clock starts.
                    async with httpx.AsyncClient() as client:
                        sent = time.time()
                        answer = await client.post(f"{bot.url}/webhooks", content=body,
                                                   headers=headers)
                        acked = time.time()
                    assert answer.status_code == 202, answer.text

                    def seen(path: str, status: str | None = None,
                             since: float = sent) -> float | None:
                        for r in github.calls(path=path):
                            body = r.body if isinstance(r.body, dict) else {}
                            if r.at >= since and (status is None
                                                  or body.get("status") == status):
                                return r.at
                        return None

                    reactions = f"/repos/{REPO}/issues/comments/{comment_id}/reactions"
                    runs = f"/repos/{REPO}/check-runs*"
                    reacted = await wait_for(functools.partial(seen, reactions),
                                             what="the reaction")
                    started = await wait_for(functools.partial(seen, runs, "in_progress"),
                                             what="in_progress")
                    await wait_for(functools.partial(seen, runs, "completed"),
                                   what="the check run")
                    if i:
                        rows.append((acked - sent, reacted - sent, started - sent))
                    await asyncio.sleep(0.3)  # the worker idle again before the next
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            for n in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(n)))
    print(f"{comments} comments, one at a time, worker idle")
    for label, index, target in (("ack", 0, None), ("reaction 👀", 1, 0.300),
                                 ("in_progress", 2, 1.0)):
        values = [r[index] for r in rows]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        verdict = "" if target is None else (
            f"  target p95 < {target * 1000:.0f} ms: {'met' if p95 < target else 'NOT met'}")
        print(f"{label:<12} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
              f"max {max(values) * 1000:7.1f} ms{verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comments", type=int, default=20)
    asyncio.run(run(ap.parse_args().comments))


if __name__ == "__main__":
    main()
