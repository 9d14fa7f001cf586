"""What the dashboard reads from the ledger: repositories, their environments (the release
running there, the lock, the queue), deployments with their steps, the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from service.ledger import locks, requests
from service.ledger.db import fetch_all, fetch_one
from service.ledger.deployments import REAL, Ledger
from service.ledger.rows import (
    DeploymentRow,
    DeploymentWithSteps,
    EnvironmentRow,
    InstallationRow,
    KindCountRow,
    LockRow,
    RepoRow,
    ReportStateRow,
    RequestRow,
)


class ReportView(ReportStateRow):
    """A final report's missing parts, with what a person calls each."""

    names: list[str]


@dataclass
class EnvironmentView:
    repo: str
    name: str
    active: DeploymentRow | None = None  # the deployment whose commit runs there now
    latest: DeploymentRow | None = None  # the newest real deployment, whatever its outcome
    running: DeploymentRow | None = None  # a deployment in progress
    lock: LockRow | None = None
    # requests waiting (running one excluded)
    queue: list[RequestRow] = field(default_factory=list)
    rolling_back: bool = False  # a rollback of the active release is queued or running


async def repositories(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    rows = await fetch_all(
        conn, RepoRow,
        """SELECT repo FROM ledger.deployments UNION SELECT repo FROM ledger.requests
           UNION SELECT repo FROM ledger.locks ORDER BY 1""")
    return [r["repo"] for r in rows]


async def environment_names(conn: psycopg.AsyncConnection[Any], repo: str) -> list[str]:
    rows = await fetch_all(
        conn, EnvironmentRow,
        """SELECT environment FROM ledger.deployments WHERE repo = %(r)s
           UNION SELECT environment FROM ledger.requests WHERE repo = %(r)s
           UNION SELECT environment FROM ledger.locks WHERE repo = %(r)s""", {"r": repo})
    return [r["environment"] for r in rows]


def _env_order(name: str) -> tuple[int, str]:
    order = {"staging": 0, "production": 2}
    return (order.get(name, 1), name)


async def environments(conn: psycopg.AsyncConnection[Any], repo: str,
                       configured: Sequence[str] = ()) -> list[EnvironmentView]:
    names = sorted(set(await environment_names(conn, repo)) | set(configured), key=_env_order)
    ledger = Ledger(conn)
    active_requests = await requests.active(conn, repo)
    views = []
    for name in names:
        view = EnvironmentView(repo, name)
        view.active = await ledger.last_successful(repo, name)
        # dry runs, refusals and no-ops deployed nothing: never the "last deployment"
        recent = await ledger.history(repo=repo, environment=name, kinds=REAL, limit=1)
        view.latest = recent[0] if recent else None
        view.running = await fetch_one(
            conn, DeploymentRow,
            """SELECT * FROM ledger.deployments WHERE repo = %s AND environment = %s
                 AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1""", (repo, name))
        view.lock = await locks.lock_of(conn, repo, name)
        mine = [r for r in active_requests if r["environment"] == name]
        view.queue = [r for r in mine if r["status"] == "queued"]
        if view.active is not None:
            view.rolling_back = any(r["kind"] == "rollback"
                                    and r["rollback_target"] == view.active["id"] for r in mine)
        views.append(view)
    return views


async def deployment(conn: psycopg.AsyncConnection[Any], deployment_id: int
                     ) -> DeploymentWithSteps | None:
    return await Ledger(conn).get(deployment_id)


async def history(conn: psycopg.AsyncConnection[Any], repos: list[str], *,
                  environment: str | None = None, kinds: Sequence[str] | None = REAL,
                  limit: int = 200) -> list[DeploymentRow]:
    """The newest records first: real deployments unless `kinds` names others (None: all)."""
    if not repos:
        return []
    return await fetch_all(
        conn, DeploymentRow,
        """SELECT * FROM ledger.deployments WHERE repo = ANY(%(repos)s)
             AND (%(env)s::text IS NULL OR environment = %(env)s)
             AND (%(kinds)s::text[] IS NULL OR record_kind = ANY(%(kinds)s))
           ORDER BY id DESC LIMIT %(limit)s""",
        {"repos": repos, "env": environment, "limit": limit,
         "kinds": list(kinds) if kinds is not None else None})


async def kind_counts(conn: psycopg.AsyncConnection[Any], repos: list[str], *,
                      environment: str | None = None) -> dict[str, int]:
    """How many records of each kind (deploy, rollback, dry-run, refused, noop)."""
    if not repos:
        return {}
    rows = await fetch_all(
        conn, KindCountRow,
        """SELECT record_kind, count(*) AS n FROM ledger.deployments
           WHERE repo = ANY(%(repos)s) AND (%(env)s::text IS NULL OR environment = %(env)s)
           GROUP BY record_kind""", {"repos": repos, "env": environment})
    return {r["record_kind"]: int(r["n"]) for r in rows}


async def installation_of(conn: psycopg.AsyncConnection[Any], repo: str) -> int | None:
    """The App installation that last brought work for `repo` (None: deployed only from the
    command line, which no worker can repeat)."""
    row = await fetch_one(
        conn, InstallationRow,
        """SELECT installation_id FROM (
             (SELECT installation_id, received_at AS at FROM ledger.deliveries
               WHERE repo = %(r)s AND installation_id IS NOT NULL
               ORDER BY received_at DESC LIMIT 1)
             UNION ALL
             (SELECT installation_id, created_at AS at FROM ledger.requests
               WHERE repo = %(r)s AND installation_id IS NOT NULL
               ORDER BY id DESC LIMIT 1)) AS found
           ORDER BY at DESC LIMIT 1""", {"r": repo})
    return int(row["installation_id"]) if row is not None else None


async def rolled_back_by(conn: psycopg.AsyncConnection[Any], deployment_id: int
                         ) -> DeploymentRow | None:
    return await fetch_one(
        conn, DeploymentRow,
        """SELECT * FROM ledger.deployments WHERE rollback_of = %s ORDER BY id DESC LIMIT 1""",
        (deployment_id,))


async def report_of(conn: psycopg.AsyncConnection[Any], deployment_id: int
                    ) -> ReportView | None:
    """What of the deployment's final report GitHub has not taken, with what a person calls
    each part; None when all of it arrived."""
    report = await requests.report_of(conn, deployment_id)
    if report is None:
        return None
    return ReportView(**report,
                      names=[requests.REPORT_PARTS.get(p, p) for p in report["parts"]])


async def request_of(conn: psycopg.AsyncConnection[Any], request_id: int
                     ) -> RequestRow | None:
    return await requests.get(conn, request_id)
