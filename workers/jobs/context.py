"""What every job gets: settings, the bot's database pool, Redis, and the GitHub App."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from arq import ArqRedis
from psycopg_pool import AsyncConnectionPool

from service.settings import Settings


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerContext:
    settings: Settings
    db: AsyncConnectionPool[Any]
    redis: ArqRedis
    github: Any  # service.github.client.GitHubApp
    database_url: str = field(repr=False, default="")
    public_url: str = ""  # where people read full logs (the dashboard)
    worker_id: str = field(default_factory=new_worker_id)
    lease_ttl: float = 60.0

    @property
    def prefix(self) -> str:
        return self.settings.redis_prefix

    def log_url(self, deployment_id: int) -> str | None:
        return f"{self.public_url}/deployments/{deployment_id}" if self.public_url else None
