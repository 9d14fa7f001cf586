"""The dashboard in tests: the real web app over HTTP on a fresh ledger, people signed in
with the token or through the test GitHub server's OAuth pages, and ledger rows made the
way the workers make them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from service.app import WebConfig, create_app
from service.dashboard.config import DashboardConfig
from tests.conftest import REDIS_URL
from tests.github_server.routes_oauth import oauth
from tests.github_server.server import GitHubTestServer
from tests.http_server import serve

TOKEN = "operator-token-for-tests-0123456789"
CLIENT_ID, CLIENT_SECRET = "Iv1.dashboardtests", "oauth-client-secret-for-tests"
SECRET = "webhook-secret-for-tests"


def dashboard_config(github: GitHubTestServer | None, data_dir: Path, *,
                     token: str = TOKEN) -> DashboardConfig:
    if github is not None:
        oauth(github.state).add_client(CLIENT_ID, CLIENT_SECRET)
    return DashboardConfig(
        token=token, client_id=CLIENT_ID if github else "",
        client_secret=CLIENT_SECRET if github else "",
        github_web_url=github.url if github else "https://github.com",
        github_api_url=github.url if github else "https://api.github.com",
        data_dir=data_dir)


@contextlib.contextmanager
def running_dashboard(bot_db: str, prefix: str, config: DashboardConfig, *,
                      webhook_secret: str = SECRET) -> Iterator[str]:
    """Another web process on the same ledger and Redis (any web process serves any page)."""
    with serve(create_app(WebConfig(bot_db, REDIS_URL, webhook_secret, prefix,
                                    dashboard=config, bind_host="127.0.0.1"))) as url:
        yield url


@dataclass
class Browser:
    """An httpx client that keeps cookies and sends the Origin a browser would."""

    url: str
    client: httpx.Client

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any], *, origin: str | None = None,
             **kw: Any) -> httpx.Response:
        headers = {"Origin": origin if origin is not None else self.url}
        return self.client.post(path, data=data, headers=headers, **kw)

    def csrf(self, path: str = "/") -> str:
        page = self.get(path).text
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, "no CSRF token on " + path
        return found.group(1)


@contextlib.contextmanager
def browser(url: str) -> Iterator[Browser]:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        yield Browser(url, client)


def sign_in_with_token(b: Browser, token: str = TOKEN) -> httpx.Response:
    r = b.post("/login/token", {"token": token, "next": "/"})
    assert r.status_code == 303, r.text
    return r


def sign_in_with_github(b: Browser, github: GitHubTestServer, login: str) -> httpx.Response:
    """Through GitHub's pages as a browser goes: authorize, type the login, come back."""
    start = b.get("/auth/github?next=/")
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(f"{github.url}/login/oauth/authorize?")
    with httpx.Client(timeout=30) as gh:
        page = gh.get(authorize)
        assert page.status_code == 200, page.text
        back = gh.post(authorize, data={"login": login})
    assert back.status_code == 302, back.text
    return b.get(back.headers["location"])


# -- ledger rows, as the workers write them ---------------------------------------------------

STEPS = [("preflight", "Preflight"), ("backup", "Backup"), ("migrate", "Apply migrations"),
         ("functions", "Deploy edge functions"), ("verify", "RLS tests"),
         ("smoke", "Smoke tests"), ("report", "Report")]


def connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def add_deployment(url: str, *, repo: str = "octo/backend", environment: str = "staging",
                   status: str = "succeeded", kind: str = "deploy", sha: str = "a" * 40,
                   pr: int | None = 7, who: str | None = "alice", trigger: str = "comment",
                   started: datetime | None = None, seconds: float = 42.0,
                   output: dict[str, str] | None = None, failed_step: str | None = None,
                   reason: str | None = None, rollback_of: int | None = None) -> int:
    started = started or datetime.now(UTC) - timedelta(minutes=5)
    finished = started + timedelta(seconds=seconds) if status not in ("running", "queued") \
        else None
    with connect(url) as conn:
        row = conn.execute(
            """INSERT INTO ledger.deployments (repo, environment, kind, commit_sha, ref, status,
                   trigger, requested_by, pr_number, failed_step, reason, rollback_of,
                   created_at, started_at, finished_at)
               VALUES (%s, %s, %s, %s, 'main', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               RETURNING id""",
            (repo, environment, kind, sha, status, trigger, who, pr, failed_step, reason,
             rollback_of, started, started, finished)).fetchone()
        assert row is not None
        dep_id = int(row["id"])
        for i, (name, title) in enumerate(STEPS):
            done = status not in ("running", "queued") or i < 2
            step_status = "succeeded" if done else ("running" if i == 2 else "pending")
            if failed_step == name:
                step_status = "failed"
            conn.execute(
                """INSERT INTO ledger.deployment_steps (deployment_id, name, position, title,
                       status, output, started_at, finished_at, duration_ms)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (dep_id, name, i, title, step_status, (output or {}).get(name, ""),
                 started if step_status != "pending" else None,
                 started + timedelta(seconds=2) if step_status in ("succeeded", "failed")
                 else None, 2000 if step_status in ("succeeded", "failed") else None))
    return dep_id


def add_request(url: str, **fields: Any) -> int:
    values = {"repo": "octo/backend", "environment": "staging", "kind": "deploy",
              "commit_sha": "b" * 40, "trigger": "comment", "requested_by": "bob",
              "pr_number": 9, "installation_id": 1, "status": "queued", **fields}
    cols = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    with connect(url) as conn:
        row = conn.execute(f"INSERT INTO ledger.requests ({cols}) VALUES ({marks}) RETURNING id",
                           tuple(values.values())).fetchone()
    assert row is not None
    return int(row["id"])


def add_lock(url: str, *, repo: str = "octo/backend", environment: str = "staging",
             owner: str = "bob", pr: int | None = 9, reason: str | None = "QA on #9") -> None:
    with connect(url) as conn:
        conn.execute("INSERT INTO ledger.locks (repo, environment, owner, pr_number, reason) "
                     "VALUES (%s, %s, %s, %s, %s)", (repo, environment, owner, pr, reason))
