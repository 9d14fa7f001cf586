"""A real worker with the full runbook in a process of its own, for tests that SIGKILL it.

    FAULT_WORKER='{"database_url": …}' python -m tests.faults.worker_main
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from arq.worker import Worker

from service.settings import GitHubAppSettings, Settings
from tests.github_server.fixtures import FAST_RETRY
from workers.arq_settings import worker_settings

SPEC_VAR = "FAULT_WORKER"


def build(spec: dict[str, Any]) -> Worker:
    settings = Settings(data_dir=Path(spec["data_dir"]), database_url=spec["database_url"],
                        redis_url=spec["redis_url"], redis_prefix=spec["prefix"])
    app = GitHubAppSettings(app_id=str(spec["app_id"]), private_key=spec["private_key"],
                            webhook_secret="unused-by-workers", api_url=spec["api_url"])
    kwargs = worker_settings(settings, app, spec["database_url"], spec["redis_url"],
                             reconcile_every=3600, lease_ttl=float(spec["lease_ttl"]),
                             github_options={"retry": FAST_RETRY})
    return Worker(**kwargs)


if __name__ == "__main__":
    build(json.loads(os.environ[SPEC_VAR])).run()
