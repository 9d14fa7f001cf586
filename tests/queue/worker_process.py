"""A real arq worker in a process of its own, for tests that kill one mid-deployment and for
benchmarks/queue_throughput.py.

    QUEUE_TEST_WORKER='{"database_url": …}' python -m tests.queue.worker_process

The spec (JSON in that variable) names the bot's database, Redis and key prefix, the test
GitHub server and the App's key, the lease TTL and how long the injected step sleeps. The
worker touches `ready_file` once it has started, so the test knows when to go on."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from service.settings import GitHubAppSettings, Settings
from tests.github_server.fixtures import FAST_RETRY
from tests.queue.plans import sleeping
from workers.arq_settings import worker_settings
from workers.arq_worker import Worker

SPEC_VAR = "QUEUE_TEST_WORKER"


def build(spec: dict[str, Any]) -> Worker:
    settings = Settings(data_dir=Path(spec["data_dir"]), database_url=spec["database_url"],
                        redis_url=spec["redis_url"], redis_prefix=spec["prefix"])
    app = GitHubAppSettings(app_id=str(spec["app_id"]), private_key=spec["private_key"],
                            webhook_secret="unused-by-workers", api_url=spec["api_url"])
    kwargs = worker_settings(settings, app, spec["database_url"], spec["redis_url"],
                             reconcile_every=int(spec.get("reconcile_every", 30)),
                             lease_ttl=float(spec["lease_ttl"]),
                             github_options={"retry": FAST_RETRY},
                             plan=sleeping(float(spec["step_seconds"])))
    startup = kwargs["on_startup"]

    async def ready(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ready = Path(spec["ready_file"])
        ready.parent.mkdir(parents=True, exist_ok=True)
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(ctx["deploybot"].worker_id)
        tmp.rename(ready)  # the test never reads a half-written id

    kwargs["on_startup"] = ready
    return Worker(**kwargs)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    build(json.loads(os.environ[SPEC_VAR])).run()


if __name__ == "__main__":
    main()
