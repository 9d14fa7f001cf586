"""The whole bot for end-to-end tests: the real web process over HTTP, a real arq worker on
real Redis, real PostgreSQL, and the test GitHub server standing in for GitHub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from service import queue
from service.app import WebConfig, create_app
from service.observability import shared
from service.settings import GitHubAppSettings, Settings
from service.webhooks.signature import sign
from tests.conftest import REDIS_URL
from tests.github_server.fixtures import FAST_RETRY
from tests.github_server.server import GitHubTestServer
from tests.http_server import serve
from tests.polling import wait_for as wait_for  # re-exported for the app tests
from workers.arq_settings import worker_settings
from workers.arq_worker import Worker

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "github-payloads"
SECRET = "webhook-secret-for-tests"
REPO = "octo/backend"


@dataclass
class Bot:
    url: str
    github: GitHubTestServer
    worker: Worker | None
    make_worker: Callable[[], Worker]
    task: asyncio.Task[None] | None = None
    prefix: str = ""
    redis_url: str = REDIS_URL
    # GitHub tells an App of every pull request as it is opened (`pull_request.opened`); the
    # tests create theirs on the test server and comment on them, so the first comment on
    # each is preceded by that delivery (False: the test delivers pull request events).
    announce_pulls: bool = True
    announced: set[int] = field(default_factory=set)
    _announcing: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reconciler_runs(self) -> int:
        """How many times the reconciler has run so far (the job-duration histogram's count)."""
        redis = await queue.connect(self.redis_url)
        try:
            series = await shared.read(redis, self.prefix, "job_duration_seconds")
        finally:
            await redis.aclose()
        return int(sum(s.value for s in series
                       if s.labels.get("job") == "reconcile" and s.labels.get("le") == "+Inf"))

    async def reconciler_turns(self, turns: int, limit: float = 60.0) -> None:
        """Wait for `turns` more reconciler runs: what it would redo or repair, it has."""
        goal = await self.reconciler_runs() + turns
        deadline = time.monotonic() + limit
        while await self.reconciler_runs() < goal:
            if time.monotonic() > deadline:
                raise AssertionError(f"the reconciler did not run {turns} times in {limit} s")
            await asyncio.sleep(0.1)

    def start_worker(self) -> None:
        self.worker = self.make_worker()
        self.task = asyncio.create_task(self.worker.main())

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.worker.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.worker, self.task = None, None

    async def send(self, event: str, payload: dict[str, Any],
                   delivery: str | None = None) -> httpx.Response:
        if event == "issue_comment" and self.announce_pulls:
            async with self._announcing:
                opened = unannounced_pull(self.github, payload, self.announced)
                if opened is not None:
                    await self._post("pull_request", opened, None)
        return await self._post(event, payload, delivery)

    async def _post(self, event: str, payload: dict[str, Any],
                    delivery: str | None) -> httpx.Response:
        body = json.dumps(payload).encode()
        async with httpx.AsyncClient() as client:
            return await client.post(f"{self.url}/webhooks", content=body, headers={
                "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(SECRET, body)})


def pull_request_payload(github: GitHubTestServer, action: str, pr: int, *,
                         repo: str = REPO, installation_id: int = 1) -> dict[str, Any]:
    """The `pull_request` event GitHub sends when the pull request is opened, reopened or
    pushed to (`synchronize`), carrying the test server's pull request as it is now."""
    state = github.state
    with state.lock:
        pull = json.loads(json.dumps(state.repo(repo).pulls[pr]))
    return {"action": action, "number": pr, "pull_request": pull,
            "repository": state.repo(repo).json(github.url),
            "installation": {"id": installation_id}, "sender": pull["user"]}


def unannounced_pull(github: GitHubTestServer, comment: dict[str, Any], announced: set[int],
                     repo: str = REPO) -> dict[str, Any] | None:
    """`pull_request.opened` for the pull request a comment is on, the first time only."""
    number = (comment.get("issue") or {}).get("number")
    repo_state = github.state.repos.get(repo.lower())
    if not isinstance(number, int) or repo_state is None or number not in repo_state.pulls:
        return None
    if number in announced:
        return None
    announced.add(number)
    return pull_request_payload(github, "opened", number, repo=repo)


def comment_payload(body: str, *, pr: int, user: str = "alice", comment_id: int | None = None,
                    created_at: datetime | None = None, installation_id: int = 1,
                    repo: str = REPO, user_type: str = "User") -> dict[str, Any]:
    """A PR comment built from the real `issue_comment.created` payload."""
    data: dict[str, Any] = json.loads(
        (PAYLOADS / "issue_comment" / "created.payload.json").read_text())
    owner, name = repo.split("/")
    data["repository"].update({"full_name": repo, "name": name, "default_branch": "main"})
    data["repository"]["owner"]["login"] = owner
    data["installation"] = {"id": installation_id}
    data["issue"]["number"] = pr
    data["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{pr}"}
    data["comment"].update({
        "id": comment_id or int(time.time() * 1000) % 10**9, "body": body,
        "created_at": (created_at or datetime.now(UTC) + timedelta(seconds=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")})
    data["comment"]["user"].update({"login": user, "type": user_type})
    data["sender"] = {**data["comment"]["user"]}
    return data


def post_comment(github: GitHubTestServer, body: str, *, pr: int, user: str = "alice",
                 user_type: str = "User") -> dict[str, Any]:
    """Write a comment on the test server (as GitHub would hold it) and return the
    `issue_comment.created` payload GitHub would deliver for it."""
    comment = github.state.add_comment(REPO, pr, body, user_login=user)
    return comment_payload(body, pr=pr, user=user, comment_id=int(comment["id"]),
                           user_type=user_type)




def requests_settled(bot_db: str) -> bool:
    """Every request the bot accepted has ended — its job finished all it sends (reports,
    watch, reaction) before marking it done."""
    with psycopg.connect(bot_db) as conn:
        row = conn.execute("SELECT count(*) FROM ledger.requests "
                           "WHERE status IN ('queued', 'running')").fetchone()
    return row is not None and row[0] == 0


@contextlib.asynccontextmanager
async def running_bot(github: GitHubTestServer, bot_db: str, prefix: str, data_dir: Path,
                      *, lease_ttl: float = 60.0, redis_url: str = REDIS_URL,
                      start_worker: bool = True, github_timeout: float = 30.0,
                      supabase_api_url: str = "https://api.supabase.com",
                      **worker_options: Any) -> AsyncIterator[Bot]:
    settings = Settings(data_dir=data_dir, database_url=bot_db, redis_url=redis_url,
                        redis_prefix=prefix, supabase_api_url=supabase_api_url)
    app = GitHubAppSettings(app_id=str(github.app_id), private_key=github.private_key,
                            webhook_secret=SECRET, api_url=github.url)

    def make_worker() -> Worker:
        options = {"reconcile_grace": 1.0, **worker_options}
        kwargs = worker_settings(settings, app, bot_db, redis_url, reconcile_every=1,
                                 lease_ttl=lease_ttl,
                                 github_options={"retry": FAST_RETRY,
                                                 "timeout": github_timeout},
                                 **options)
        kwargs["handle_signals"] = False
        return Worker(**kwargs)

    # tests.http_server.serve listens on 127.0.0.1: loopback only, so /metrics is open
    with serve(create_app(WebConfig(bot_db, redis_url, SECRET, prefix,
                                    bind_host="127.0.0.1"))) as url:
        github.set_webhook_target(f"{url}/webhooks", SECRET)
        bot = Bot(url, github, None, make_worker, prefix=prefix, redis_url=redis_url)
        if start_worker:
            bot.start_worker()
        try:
            yield bot
        finally:
            await bot.stop_worker()


def _load(event: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / event / name).read_text())
    return data


def _as_repo(data: dict[str, Any], repo: str, installation_id: int) -> dict[str, Any]:
    owner, name = repo.split("/")
    data["repository"].update({"full_name": repo, "name": name, "default_branch": "main"})
    data["repository"]["owner"]["login"] = owner
    data["installation"] = {"id": installation_id}
    return data


def merged_payload(number: int, merge_sha: str, *, user: str = "alice", base: str = "main",
                   repo: str = REPO, installation_id: int = 1) -> dict[str, Any]:
    """`pull_request.closed` with `merged: true`, built from the real closed payload (the
    stored payloads hold no merged pull request)."""
    data = _as_repo(_load("pull_request", "closed.payload.json"), repo, installation_id)
    data["number"] = number
    pr = data["pull_request"]
    pr.update({"number": number, "merged": True, "merge_commit_sha": merge_sha,
               "merged_by": {"login": user, "type": "User"}})
    pr["base"]["ref"] = base
    return data


def push_payload(sha: str, *, branch: str = "main", user: str = "alice", repo: str = REPO,
                 installation_id: int = 1) -> dict[str, Any]:
    data = _as_repo(_load("push", "payload.json"), repo, installation_id)
    data.update({"ref": f"refs/heads/{branch}", "after": sha, "deleted": False})
    data["pusher"] = {"name": user}
    return data


def button_payload(check_run_id: int, identifier: str, *, user: str = "alice",
                   repo: str = REPO, installation_id: int = 1) -> dict[str, Any]:
    data = _as_repo(_load("check_run", "requested_action.payload.json"), repo,
                    installation_id)
    data["check_run"]["id"] = check_run_id
    data["requested_action"] = {"identifier": identifier}
    data["sender"] = {"login": user, "type": "User"}
    return data
