"""arq worker settings: the jobs, the reconciler's schedule, and the shared context."""

from __future__ import annotations

import os
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.github.client import GitHubApp
from service.ledger.db import ensure_schema
from service.queue import queue_name
from service.settings import GitHubAppSettings, Settings
from workers.jobs.context import Plan, WorkerContext
from workers.jobs.handle_delivery import handle_delivery
from workers.jobs.reconcile import reconcile
from workers.jobs.run_request import run_request


def worker_settings(settings: Settings, app: GitHubAppSettings, database_url: str,
                    redis_url: str, *, reconcile_every: int = 30,
                    public_url: str | None = None, lease_ttl: float = 60.0,
                    github_options: dict[str, Any] | None = None,
                    plan: Plan | None = None) -> dict[str, Any]:
    """Keyword arguments for arq's Worker. `plan` replaces the runbook's steps (tests and
    benchmarks only; see WorkerContext.plan)."""

    async def startup(arq_ctx: dict[str, Any]) -> None:
        await ensure_schema(database_url)
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=10, open=False,
                                   kwargs={"autocommit": True, "row_factory": dict_row})
        await pool.open(wait=True, timeout=30)
        github = GitHubApp(app.app_id, app.private_key, app.api_url, redis=arq_ctx["redis"],
                           redis_prefix=settings.redis_prefix, **(github_options or {}))
        arq_ctx["deploybot"] = WorkerContext(
            settings=settings, db=pool, redis=arq_ctx["redis"], github=github,
            database_url=database_url, lease_ttl=lease_ttl, plan=plan,
            public_url=(public_url or os.environ.get("DEPLOYBOT_PUBLIC_URL", "")).rstrip("/"))

    async def shutdown(arq_ctx: dict[str, Any]) -> None:
        ctx: WorkerContext | None = arq_ctx.get("deploybot")
        if ctx is not None:
            await ctx.github.aclose()
            await ctx.db.close()

    seconds = set(range(0, 60, max(1, min(reconcile_every, 60))))
    return {
        "functions": [handle_delivery, run_request],
        "cron_jobs": [cron(reconcile, second=seconds,  # type: ignore[arg-type]  # arq's alias
                           run_at_startup=True)],
        "queue_name": queue_name(settings.redis_prefix),
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": 10,
        "job_timeout": 3600,
        "keep_result": 60,
        "max_tries": 3,
        "handle_signals": True,
    }
