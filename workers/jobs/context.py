"""What every job gets: settings, the bot's database pool, Redis, and the GitHub App."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from arq import ArqRedis
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from service.config.model import EnvironmentConfig
from service.github.client import GitHubApp
from service.github.internal import internal_url
from service.settings import Settings
from workers.runbook.step import Step

# The steps to run for a request of a kind ('deploy', 'rollback', 'dry_run'); None means the
# normal runbook (or rollback plan). Tests and benchmarks inject a light plan here to drive
# the real queue, leases and workers without deploying a database.
Plan = Callable[[str], list[Step] | None]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerContext:
    settings: Settings
    db: AsyncConnectionPool[AsyncConnection[DictRow]]  # autocommit, rows as dicts
    redis: ArqRedis
    github: GitHubApp
    database_url: str = field(repr=False, default="")
    public_url: str = ""  # where people read full logs (the dashboard)
    worker_id: str = field(default_factory=new_worker_id)
    lease_ttl: float = 60.0
    plan: Plan | None = None
    reconcile_grace: float = 30.0  # seconds fresh work is left to the normal path

    @property
    def prefix(self) -> str:
        return self.settings.redis_prefix

    def log_url(self, deployment_id: int) -> str | None:
        return f"{self.public_url}/deployments/{deployment_id}" if self.public_url else None

    def request_url(self, request_id: int) -> str | None:
        """A request's page (it redirects to its deployment once that starts)."""
        return f"{self.public_url}/requests/{request_id}" if self.public_url else None

    def environment_url(self, repo: str, env: EnvironmentConfig | None, name: str
                        ) -> str | None:
        """What a GitHub deployment's environment link opens: the hosted Supabase project,
        else the environment's public functions URL, else its history on the dashboard.
        Never an internal address (a local function host's loopback URL)."""
        if env is not None and env.supabase_project_ref:
            return f"https://{env.supabase_project_ref}.supabase.co"
        if env is not None and env.functions_url and env.functions_url.startswith("https://") \
                and not internal_url(env.functions_url):
            return env.functions_url
        if self.public_url:
            return f"{self.public_url}/history?{urlencode({'repo': repo, 'env': name})}"
        return None
