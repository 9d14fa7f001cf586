"""The bot with N real arq workers, for the queue tests: the real web endpoint over HTTP,
workers in this process (several at once, racing for the same jobs and leases) or in
processes of their own (so one can be killed), real Redis and PostgreSQL, the test GitHub
server. Deployments run an injected plan (tests/queue/plans.py) instead of the runbook."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg.rows import dict_row

from service.app import WebConfig, create_app
from service.settings import GitHubAppSettings, Settings
from service.webhooks.signature import sign
from tests.app.bot import REPO, SECRET, unannounced_pull
from tests.conftest import REDIS_URL
from tests.github_server.fixtures import FAST_RETRY
from tests.github_server.server import GitHubTestServer
from tests.http_server import serve
from tests.polling import wait_for
from tests.queue.worker_process import SPEC_VAR
from workers.arq_settings import worker_settings
from workers.arq_worker import Worker
from workers.jobs.context import Plan

ROOT = Path(__file__).resolve().parents[2]
USERS = {10: "alice", 11: "bob", 12: "carol", 13: "dave"}  # pull request → its author
T = TypeVar("T")


@dataclass
class QueueBot:
    url: str
    github: GitHubTestServer
    database_url: str
    prefix: str
    data_dir: Path
    workers: list[tuple[Worker, asyncio.Task[None]]] = field(default_factory=list)
    announced: set[int] = field(default_factory=set)  # as tests.app.bot.Bot

    async def send(self, event: str, payload: dict[str, Any]) -> None:
        if event == "issue_comment":
            opened = unannounced_pull(self.github, payload, self.announced)
            if opened is not None:
                await self._post("pull_request", opened)
        await self._post(event, payload)

    async def _post(self, event: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/webhooks", content=body, headers={
                "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(SECRET, body)})
        assert response.status_code == 202, response.text

    def start_worker(self, plan: Plan, *, lease_ttl: float = 60.0,
                     reconcile_every: int = 30) -> Worker:
        """A real arq Worker in this process and event loop (its own Redis pool, database
        pool and worker id)."""
        kwargs = worker_settings(self._settings(), self._app(), self.database_url, REDIS_URL,
                                 reconcile_every=reconcile_every, lease_ttl=lease_ttl,
                                 github_options={"retry": FAST_RETRY}, plan=plan)
        kwargs["handle_signals"] = False
        worker = Worker(**kwargs)
        self.workers.append((worker, asyncio.create_task(worker.main())))
        return worker

    async def spawn_worker(self, *, step_seconds: float, lease_ttl: float, log: Path
                           ) -> tuple[asyncio.subprocess.Process, str]:
        """A real arq Worker in a process of its own (tests/queue/worker_process.py); returns
        the process and its worker id once it has started."""
        ready = self.data_dir / f"ready-{uuid.uuid4().hex[:8]}"
        spec = {"database_url": self.database_url, "redis_url": REDIS_URL,
                "prefix": self.prefix, "data_dir": str(self.data_dir),
                "app_id": self.github.app_id, "private_key": self.github.private_key,
                "api_url": self.github.url, "lease_ttl": lease_ttl,
                "step_seconds": step_seconds, "ready_file": str(ready)}
        out = await asyncio.to_thread(log.open, "wb")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.queue.worker_process", cwd=ROOT,
                env={**os.environ, SPEC_VAR: json.dumps(spec)}, stdout=out,
                stderr=asyncio.subprocess.STDOUT)
        finally:
            out.close()
        try:
            worker_id = str(await wait_for(lambda: asyncio.to_thread(_ready, proc, ready, log),
                                    what="the worker process to start"))
        except BaseException:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            raise
        return proc, worker_id

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(
                self.database_url, autocommit=True, row_factory=dict_row) as conn:
            cur = await conn.execute(query, args)  # our own queries; no input from outside
            return await cur.fetchall()

    def _settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url,
                        redis_url=REDIS_URL, redis_prefix=self.prefix)

    def _app(self) -> GitHubAppSettings:
        return GitHubAppSettings(app_id=str(self.github.app_id),
                                 private_key=self.github.private_key,
                                 webhook_secret=SECRET, api_url=self.github.url)


def _ready(proc: asyncio.subprocess.Process, ready: Path, log: Path) -> str | None:
    """The worker's id once it has written it; fails at once if the process died."""
    if proc.returncode is not None:
        raise AssertionError(f"the worker process exited:\n{log.read_text()[-4000:]}")
    return ready.read_text() if ready.exists() else None


@contextlib.asynccontextmanager
async def queue_bot(github: GitHubTestServer, database_url: str, prefix: str,
                    data_dir: Path) -> AsyncIterator[QueueBot]:
    """The web endpoint; workers are started by the test (start_worker / spawn_worker)."""
    with serve(create_app(WebConfig(database_url, REDIS_URL, SECRET, prefix))) as url:
        github.set_webhook_target(f"{url}/webhooks", SECRET)
        bot = QueueBot(url, github, database_url, prefix, data_dir)
        try:
            yield bot
        finally:
            for worker, _ in bot.workers:
                await worker.close()
            for _, task in bot.workers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task




def replies(github: GitHubTestServer, pr: int) -> list[str]:
    """The bot's short replies on a pull request (not its deployment summaries)."""
    return [c["body"] for c in github.state.repo(REPO).comments_on(pr)
            if c["body"].startswith("<!-- deploybot -->")]
