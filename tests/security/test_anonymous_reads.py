"""No anonymous reads: the deployment log (`/api/deployments`: repositories, SHAs,
requesters, pull requests) answers only a dashboard session or an API token, and shows a
GitHub sign-in only the repositories GitHub says it can read; `/metrics` answers only its
token, unless the server listens on loopback alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access import is_loopback
from service.app import WebConfig, create_app
from service.ledger.db import ensure_schema
from tests.conftest import REDIS_URL
from tests.dashboard.support import (
    TOKEN,
    add_deployment,
    browser,
    dashboard_config,
    sign_in_with_github,
    sign_in_with_token,
)
from tests.github_server.server import GitHubTestServer
from tests.http_server import serve

API_TOKEN = "api-token-for-security-tests-0123"
METRICS_TOKEN = "metrics-token-for-security-tests"
API = "/api/deployments"


@contextlib.contextmanager
def web(db: str, prefix: str, github: GitHubTestServer, data_dir: Path,
        **options: Any) -> Iterator[str]:
    config = WebConfig(db, REDIS_URL, "webhook-secret", prefix,
                       dashboard=dashboard_config(github, data_dir), **options)
    with serve(create_app(config)) as url:
        yield url


@pytest.fixture
def ledger(fresh_db: str, github_server: GitHubTestServer) -> str:
    github_server.state.add_repo("octo/backend")
    github_server.state.add_repo("octo/secret")
    github_server.state.set_permission("octo/backend", "rita", "read")
    github_server.state.set_permission("octo/secret", "mona", "admin")
    asyncio.run(ensure_schema(fresh_db))  # what the web process does at start
    add_deployment(fresh_db, repo="octo/backend", who="alice", pr=7)
    add_deployment(fresh_db, repo="octo/secret", sha="f" * 40, who="mallory", pr=99)
    return fresh_db


def repos(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(d["repo"] for d in response.json()["deployments"])


def test_the_deployment_log_needs_a_session_or_a_token(
        ledger: str, redis_prefix: str, github_server: GitHubTestServer,
        tmp_path: Path) -> None:
    with web(ledger, redis_prefix, github_server, tmp_path / "data",
             api_token=API_TOKEN, bind_host="127.0.0.1") as url:
        for headers in ({}, {"Authorization": "Bearer guess"},
                        {"Authorization": f"Basic {API_TOKEN}"}):
            r = httpx.get(f"{url}{API}", headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert "octo/" not in r.text and "alice" not in r.text
            assert "DEPLOYBOT_API_TOKEN" in r.json()["error"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        # bad filters are not a way around it either
        assert httpx.get(f"{url}{API}", params={"limit": "0"}).status_code == 401
        for token in (API_TOKEN, TOKEN):  # the API token, or the dashboard's sign-in token
            r = httpx.get(f"{url}{API}", headers={"Authorization": f"Bearer {token}"})
            assert repos(r) == ["octo/backend", "octo/secret"]
        with browser(url) as b:
            sign_in_with_token(b)  # the operator
            assert repos(b.get(API)) == ["octo/backend", "octo/secret"]


def test_a_github_sign_in_reads_only_its_repositories(
        ledger: str, redis_prefix: str, github_server: GitHubTestServer,
        tmp_path: Path) -> None:
    with web(ledger, redis_prefix, github_server, tmp_path / "data",
             bind_host="127.0.0.1") as url:
        with browser(url) as b:
            sign_in_with_github(b, github_server, "rita")
            assert repos(b.get(API)) == ["octo/backend"]
            assert repos(b.get(API, params={"repo": "octo/secret"})) == []
            assert "mallory" not in b.get(API).text
        with browser(url) as b:
            sign_in_with_github(b, github_server, "nobody")  # no permission anywhere
            assert repos(b.get(API)) == []
        with browser(url) as b:
            sign_in_with_github(b, github_server, "mona")
            assert repos(b.get(API)) == ["octo/secret"]


def test_metrics_need_their_token_beyond_loopback(
        ledger: str, redis_prefix: str, github_server: GitHubTestServer,
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    for host in ("0.0.0.0", "::", "10.1.2.3", None):
        with web(ledger, redis_prefix, github_server, data, bind_host=host) as url:
            r = httpx.get(f"{url}/metrics")
            assert r.status_code == 403, (host, r.text)
            assert "DEPLOYBOT_METRICS_TOKEN" in r.text and "deploybot_" not in r.text
    with web(ledger, redis_prefix, github_server, data, bind_host="0.0.0.0",
             metrics_token=METRICS_TOKEN) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics",
                         headers={"Authorization": "Bearer guess"}).status_code == 401
        r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200 and "deploybot_" in r.text
    with web(ledger, redis_prefix, github_server, data, bind_host="127.0.0.1") as url:
        r = httpx.get(f"{url}/metrics")  # only this machine can ask
        assert r.status_code == 200 and "deploybot_" in r.text


def test_what_counts_as_loopback() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", None,
                                            "10.0.0.5", "example.com", "localhost.evil"))
