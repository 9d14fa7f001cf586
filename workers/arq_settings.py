"""arq worker settings: the jobs, the reconciler's schedule, and the shared context."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from service.github import internal
from service.github.client import GitHubApp
from service.ledger.db import ensure_schema
from service.queue import queue_name
from service.settings import GitHubAppSettings, Settings
from workers.jobs.context import Plan, WorkerContext
from workers.jobs.deliver_report import deliver_report
from workers.jobs.handle_delivery import handle_delivery
from workers.jobs.reconcile import reconcile
from workers.jobs.redeliver import redeliver_failed
from workers.jobs.run_request import run_request
from workers.jobs.watch import resume_watches, watch_deployment

MAX_JOBS = 10  # jobs at once per worker process
POLL_DELAY = 0.05  # seconds between looks at the queue (one cheap Redis call)


def worker_settings(settings: Settings, app: GitHubAppSettings, database_url: str,
                    redis_url: str, *, reconcile_every: int = 30,
                    public_url: str | None = None, lease_ttl: float = 60.0,
                    github_options: dict[str, Any] | None = None,
                    plan: Plan | None = None, reconcile_grace: float = 30.0,
                    redeliver_every_minutes: int = 5) -> dict[str, Any]:
    """Keyword arguments for arq's Worker. `plan` replaces the runbook's steps (tests and
    benchmarks only; see WorkerContext.plan)."""

    async def startup(arq_ctx: dict[str, Any]) -> None:
        await ensure_schema(database_url)
        # Nothing posted to GitHub names the worker's folders; the dashboard is public.
        internal.register_root(settings.data_dir)
        internal.register_root(tempfile.gettempdir())
        public = (public_url or os.environ.get("DEPLOYBOT_PUBLIC_URL", "")).rstrip("/")
        internal.allow(public)
        # Each job holds at most one connection and briefly a second (the heartbeat renewing
        # its lease, kicking the queue): with only one per job slot, a worker running a
        # deployment in every slot cannot renew its leases, and they expire under live
        # deployments (tests/queue/test_lease_renewal.py).
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=2 * MAX_JOBS, open=False,
                                   connection_class=AsyncConnection[DictRow],
                                   kwargs={"autocommit": True, "row_factory": dict_row})
        await pool.open(wait=True, timeout=30)
        github = GitHubApp(app.app_id, app.private_key, app.api_url, redis=arq_ctx["redis"],
                           redis_prefix=settings.redis_prefix, **(github_options or {}))
        arq_ctx["deploybot"] = WorkerContext(
            settings=settings, db=pool, redis=arq_ctx["redis"], github=github,
            database_url=database_url, lease_ttl=lease_ttl, plan=plan,
            reconcile_grace=reconcile_grace, public_url=public)

    async def shutdown(arq_ctx: dict[str, Any]) -> None:
        ctx: WorkerContext | None = arq_ctx.get("deploybot")
        if ctx is not None:
            await ctx.github.aclose()
            await ctx.db.close()

    seconds = set(range(0, 60, max(1, min(reconcile_every, 60))))
    return {
        "functions": [handle_delivery, run_request, watch_deployment, deliver_report],
        # Named after the key prefix: arq's cron job ids ignore the queue, so installations
        # sharing a Redis would otherwise take each other's reconciler turns.
        "cron_jobs": [cron(reconcile, second=seconds,  # type: ignore[arg-type]  # arq's alias
                           name=f"cron:{settings.redis_prefix}reconcile",
                           run_at_startup=True),
                      # watches whose next sample's job Redis lost: once a minute is enough
                      cron(resume_watches, second={30},  # type: ignore[arg-type]
                           name=f"cron:{settings.redis_prefix}resume_watches",
                           run_at_startup=True),
                      # GitHub never redelivers by itself: ask for the failed deliveries
                      cron(redeliver_failed,  # type: ignore[arg-type]
                           minute=set(range(0, 60, max(1, redeliver_every_minutes))),
                           second={15}, name=f"cron:{settings.redis_prefix}redeliver")],
        "queue_name": queue_name(settings.redis_prefix),
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": MAX_JOBS,
        # arq starts jobs only when it polls, at most max_jobs per poll: at its default 0.5 s
        # a burst of deliveries drained at ~40/s with the worker mostly idle (10.6 s instead
        # of 31 s for 1,202 deliveries at 0.05 s; benchmarks/webhook_burst.py).
        "poll_delay": POLL_DELAY,
        "job_timeout": 3600,
        "keep_result": 60,
        "max_tries": 3,
        "handle_signals": True,
    }
