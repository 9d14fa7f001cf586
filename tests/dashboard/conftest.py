"""A dashboard on a fresh ledger, with the test GitHub server for sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dashboard.support import dashboard_config, running_dashboard
from tests.github_server.server import GitHubTestServer


@dataclass
class Dash:
    url: str
    db: str
    prefix: str
    github: GitHubTestServer
    data_dir: Path


@pytest.fixture
def dash(fresh_db: str, redis_prefix: str, github_server: GitHubTestServer,
         tmp_path: Path) -> Iterator[Dash]:
    github_server.state.add_repo("octo/backend")
    github_server.state.add_repo("octo/secret")
    github_server.state.set_permission("octo/backend", "alice", "write")
    github_server.state.set_permission("octo/backend", "mona", "maintain")
    github_server.state.set_permission("octo/backend", "rita", "read")
    github_server.state.set_permission("octo/secret", "mona", "admin")
    config = dashboard_config(github_server, tmp_path / "data")
    with running_dashboard(fresh_db, redis_prefix, config) as url:
        yield Dash(url, fresh_db, redis_prefix, github_server, tmp_path / "data")
