"""`deploybot deploy staging`, then `deploybot serve` with no GitHub App set up yet: the
printed link signs the operator in, the dashboard shows the release, the steps and the log,
/setup offers the registration, /webhooks waits for it, and the logs are JSON lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.conftest import (
    REDIS_URL,
    create_database,
    database_url,
    drop_database,
    prepare_environment,
)
from tests.fixture_repo import cli_project
from tests.http_server import free_port
from workers.cli import main


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    names = [create_database("bot"), create_database("stg")]
    bot, staging = (database_url(n) for n in names)
    staging = prepare_environment(staging)
    for name in [n for n in os.environ if n.startswith("GITHUB_")]:
        monkeypatch.delenv(name)
    repo = cli_project(tmp_path, monkeypatch, bot=bot, staging=staging)
    try:
        assert main(["deploy", "staging"]) == 0
        yield {"bot": bot, "repo": str(repo)}
    finally:
        for n in names:
            drop_database(n)


def _line(stream: IO[str], pattern: str, limit: float = 60.0) -> re.Match[str]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = stream.readline()
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"`deploybot serve` printed no line matching {pattern!r}")


def _ready(client: httpx.Client, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("`deploybot serve` did not answer /healthz")


def test_serve_shows_a_cli_deployment_to_the_operator(deployed: dict[str, str],
                                                      redis_prefix: str) -> None:
    port = free_port()
    env = {**os.environ, "REDIS_URL": REDIS_URL, "DEPLOYBOT_REDIS_PREFIX": redis_prefix,
           "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "workers.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        base = _line(proc.stdout, r"dashboard: (http://\S+)/").group(1)
        token = _line(proc.stdout, r"sign in:\s+\S+/login#token=(\S+)").group(1)
        assert "/setup" in proc.stdout.readline()  # the App is not set up yet
        with httpx.Client(base_url=base, timeout=30) as client:
            _ready(client)
            signed = client.post("/login/token", data={"token": token},
                                 headers={"Origin": base})
            assert signed.status_code == 303
            overview = client.get("/").text
            assert "local/repo" in overview and "Staging" in overview.title()
            assert "deployment #1" in overview
            assert "deployed from the command line" in overview
            page = client.get("/deployments/1").text
            assert "succeeded" in page and "Apply migrations" in page
            assert "20260107000001_create_quotes_table.sql" in page  # the step's log
            assert client.get("/setup").text.count('id="manifest-form"') == 1
            assert client.post("/webhooks", content=b"{}").status_code == 503
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    logged = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert logged, "the web process logged nothing"
    for entry in logged:  # JSON lines, each naming the delivery and the deployment
        assert {"ts", "level", "msg", "delivery_id", "deployment_id"} <= set(entry), entry
    assert token not in err
