"""A real worker with the full runbook in a process of its own, for tests that SIGKILL it.

    FAULT_WORKER='{"database_url": …}' python -m tests.faults.worker_main
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from service.settings import GitHubAppSettings, Settings
from tests.github_server.fixtures import FAST_RETRY
from workers.arq_settings import worker_settings
from workers.arq_worker import Worker
from workers.jobs.context import Plan
from workers.plans import deploy_steps
from workers.runbook.context import DeployContext
from workers.runbook.step import Step

SPEC_VAR = "FAULT_WORKER"


def pausing_before(name: str) -> Plan:
    """The staging runbook, waiting a minute before step `name` runs (a step with no I/O of
    its own to be slow on, like report), so a test can kill the worker inside it."""
    def paused(step: Step) -> Step:
        async def run(ctx: DeployContext) -> None:
            await asyncio.sleep(60)
            await step.run(ctx)
        return dataclasses.replace(step, run=run)

    def plan(kind: str) -> list[Step] | None:
        if kind != "deploy":
            return None
        return [paused(s) if s.name == name else s for s in deploy_steps()]
    return plan


def build(spec: dict[str, Any]) -> Worker:
    settings = Settings(data_dir=Path(spec["data_dir"]), database_url=spec["database_url"],
                        redis_url=spec["redis_url"], redis_prefix=spec["prefix"])
    app = GitHubAppSettings(app_id=str(spec["app_id"]), private_key=spec["private_key"],
                            webhook_secret="unused-by-workers", api_url=spec["api_url"])
    pause = spec.get("pause_before")
    kwargs = worker_settings(settings, app, spec["database_url"], spec["redis_url"],
                             reconcile_every=3600, lease_ttl=float(spec["lease_ttl"]),
                             plan=pausing_before(pause) if pause else None,
                             github_options={"retry": FAST_RETRY})
    return Worker(**kwargs)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build(json.loads(os.environ[SPEC_VAR])).run()
