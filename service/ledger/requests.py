"""Deployment requests and the per-environment queue, kept in PostgreSQL.

A busy environment queues requests instead of asking people to try again. A newer request
from the same pull request for the same environment replaces its older queued one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from service.ledger.db import fetch_all, fetch_one
from service.ledger.rows import CountRow, IdRow, ReportStateRow, RequestRow


@dataclass(frozen=True)
class NewRequest:
    repo: str
    environment: str
    kind: str
    commit_sha: str
    trigger: str
    installation_id: int | None = None
    ref: str | None = None
    pr_number: int | None = None
    requested_by: str | None = None
    comment_id: int | None = None
    delivery_id: str | None = None
    rollback_target: int | None = None
    forced_reason: str | None = None


@dataclass(frozen=True)
class Created:
    id: int
    superseded: list[int]
    existing: bool  # the same delivery had created it already (a redelivery or a retry)


AUTOMATIC = ("merge", "push")  # triggers that deploy a commit once, whoever sends it first


async def create(conn: psycopg.AsyncConnection[Any], req: NewRequest) -> Created:
    async with conn.transaction():
        if req.trigger in AUTOMATIC and req.kind == "deploy":
            # A merge sends both `pull_request.closed` and `push`, often handled at the same
            # moment by two workers: serialise them on the commit, and let the second one
            # find the first one's request.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                               (f"{req.repo}|{req.environment}|{req.commit_sha}",))
            row = await fetch_one(
                conn, IdRow,
                """SELECT id FROM ledger.requests WHERE repo = %s AND environment = %s
                     AND commit_sha = %s AND kind = 'deploy' AND trigger IN ('merge', 'push')
                     AND status IN ('queued', 'running', 'done') ORDER BY id LIMIT 1""",
                (req.repo, req.environment, req.commit_sha))
            if row is not None:
                return Created(int(row["id"]), [], True)
        if req.delivery_id is not None:
            row = await fetch_one(
                conn, IdRow,
                "SELECT id FROM ledger.requests WHERE delivery_id = %s AND environment = %s",
                (req.delivery_id, req.environment))
            if row is not None:
                return Created(int(row["id"]), [], True)
        superseded: list[int] = []
        if req.pr_number is not None:
            superseded = [int(r["id"]) for r in await fetch_all(
                conn, IdRow,
                """UPDATE ledger.requests SET status = 'superseded', finished_at = now(),
                          note = 'replaced by a newer request from the same pull request'
                   WHERE repo = %s AND environment = %s AND pr_number = %s
                     AND status = 'queued' RETURNING id""",
                (req.repo, req.environment, req.pr_number))]
        row = await fetch_one(
            conn, IdRow,
            """INSERT INTO ledger.requests (repo, installation_id, environment, kind,
                   commit_sha, ref, pr_number, requested_by, trigger, comment_id,
                   delivery_id, rollback_target, forced_reason)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (req.repo, req.installation_id, req.environment, req.kind, req.commit_sha,
             req.ref, req.pr_number, req.requested_by, req.trigger, req.comment_id,
             req.delivery_id, req.rollback_target, req.forced_reason))
        assert row is not None
        return Created(int(row["id"]), superseded, False)


async def get(conn: psycopg.AsyncConnection[Any], request_id: int) -> RequestRow | None:
    return await fetch_one(conn, RequestRow, "SELECT * FROM ledger.requests WHERE id = %s",
                           (request_id,))


async def position(conn: psycopg.AsyncConnection[Any], request_id: int) -> int:
    """1 for the next to run; how many requests of its environment go first, plus one."""
    row = await fetch_one(
        conn, CountRow,
        """SELECT count(*) AS n FROM ledger.requests o, ledger.requests r
           WHERE r.id = %s AND o.repo = r.repo AND o.environment = r.environment
             AND o.status IN ('queued', 'running') AND o.id < r.id""", (request_id,))
    assert row is not None  # an aggregate always has its row
    return int(row["n"]) + 1


async def oldest_queued(conn: psycopg.AsyncConnection[Any], repo: str, environment: str
                        ) -> RequestRow | None:
    return await fetch_one(
        conn, RequestRow,
        """SELECT * FROM ledger.requests WHERE repo = %s AND environment = %s
             AND status = 'queued' ORDER BY id LIMIT 1""", (repo, environment))


async def start(conn: psycopg.AsyncConnection[Any], request_id: int, deployment_id: int
                ) -> bool:
    cur = await conn.execute(
        """UPDATE ledger.requests SET status = 'running', started_at = now(),
                  deployment_id = %s
           WHERE id = %s AND status = 'queued'""", (deployment_id, request_id))
    return cur.rowcount == 1


async def finish(conn: psycopg.AsyncConnection[Any], request_id: int, note: str = "") -> None:
    await conn.execute(
        """UPDATE ledger.requests SET status = 'done', finished_at = now(),
                  note = coalesce(nullif(%s, ''), note)
           WHERE id = %s AND status IN ('queued', 'running')""", (note, request_id))


async def cancel(conn: psycopg.AsyncConnection[Any], repo: str, pr_number: int,
                 requested_by: str) -> list[RequestRow]:
    """Withdraw a person's queued requests on a pull request; running ones are not touched."""
    return await fetch_all(
        conn, RequestRow,
        """UPDATE ledger.requests SET status = 'cancelled', finished_at = now(),
                  note = 'cancelled by ' || %s
           WHERE repo = %s AND pr_number = %s AND requested_by = %s AND status = 'queued'
           RETURNING *""", (requested_by, repo, pr_number, requested_by))


async def active(conn: psycopg.AsyncConnection[Any], repo: str, environment: str | None = None
                 ) -> list[RequestRow]:
    """Running and queued requests, in queue order."""
    return await fetch_all(
        conn, RequestRow,
        """SELECT * FROM ledger.requests WHERE repo = %s
             AND (%s::text IS NULL OR environment = %s) AND status IN ('queued', 'running')
           ORDER BY environment, id""", (repo, environment, environment))


async def stale_queued(conn: psycopg.AsyncConnection[Any], older_than_seconds: float
                       ) -> list[RequestRow]:
    """Oldest queued request of each environment that has waited a while: the reconciler
    makes sure a job exists for it (Redis may have lost it)."""
    return await fetch_all(
        conn, RequestRow,
        """SELECT DISTINCT ON (repo, environment) * FROM ledger.requests
           WHERE status = 'queued' AND created_at < now() - make_interval(secs => %s)
           ORDER BY repo, environment, id""", (older_than_seconds,))


async def set_github_ids(conn: psycopg.AsyncConnection[Any], request_id: int, *,
                         check_run_id: int | None = None,
                         gh_deployment_id: int | None = None) -> None:
    await conn.execute(
        """UPDATE ledger.requests
           SET check_run_id = coalesce(%s, check_run_id),
               gh_deployment_id = coalesce(%s, gh_deployment_id)
           WHERE id = %s""", (check_run_id, gh_deployment_id, request_id))


async def by_check_run(conn: psycopg.AsyncConnection[Any], repo: str, check_run_id: int
                       ) -> RequestRow | None:
    return await fetch_one(
        conn, RequestRow,
        "SELECT * FROM ledger.requests WHERE repo = %s AND check_run_id = %s "
        "ORDER BY id DESC LIMIT 1", (repo, check_run_id))


# The parts of a deployment's final report, as `report_parts` names them, and what a
# person calls each.
REPORT_PARTS = {
    "check_run": "check run conclusion",
    "deployment_status": "GitHub deployment status",
    "escalation": "escalation (post-mortem issue and incident comment)",
    "summary_comment": "summary comment",
}


async def report_later(conn: psycopg.AsyncConnection[Any], request_id: int, *,
                       delay_seconds: float, parts: list[str]) -> None:
    """GitHub did not take these parts of the final report (`check_run`, `summary_comment`,
    …): send them again in `delay_seconds`."""
    await conn.execute(
        """UPDATE ledger.requests
           SET report_due = now() + make_interval(secs => %s),
               report_attempts = report_attempts + 1, report_parts = %s
           WHERE id = %s""", (delay_seconds, parts, request_id))


async def reported(conn: psycopg.AsyncConnection[Any], request_id: int) -> None:
    await conn.execute("UPDATE ledger.requests SET report_due = NULL, report_parts = '{}' "
                       "WHERE id = %s", (request_id,))


async def gave_up_reporting(conn: psycopg.AsyncConnection[Any], request_id: int,
                            parts: list[str]) -> None:
    """Stop sending: the parts that never arrived stay named, for the dashboard."""
    await conn.execute("UPDATE ledger.requests SET report_due = NULL, report_parts = %s "
                       "WHERE id = %s", (parts, request_id))


async def report_of(conn: psycopg.AsyncConnection[Any], deployment_id: int
                    ) -> ReportStateRow | None:
    """A deployment's final report parts GitHub has not taken: when the next try is due
    (None: given up) and how many tries there were; None when all arrived."""
    return await fetch_one(
        conn, ReportStateRow,
        """SELECT report_parts AS parts, report_due AS due, report_attempts AS attempts
           FROM ledger.requests WHERE deployment_id = %s AND report_parts <> '{}'
           ORDER BY id DESC LIMIT 1""", (deployment_id,))


async def reports_due(conn: psycopg.AsyncConnection[Any], limit: int = 50) -> list[RequestRow]:
    """Finished requests whose final report is due to be sent again, the longest due first."""
    return await fetch_all(
        conn, RequestRow,
        """SELECT * FROM ledger.requests WHERE report_due IS NOT NULL AND report_due <= now()
             AND status NOT IN ('queued', 'running')
           ORDER BY report_due LIMIT %s""", (limit,))


async def claim_report(conn: psycopg.AsyncConnection[Any], request_id: int,
                       hold_seconds: float = 300.0) -> RequestRow | None:
    """Take a due report for one job: it is pushed `hold_seconds` ahead, so the reconciler
    does not hand it to another job meanwhile (and a job that dies leaves it due again)."""
    return await fetch_one(
        conn, RequestRow,
        """UPDATE ledger.requests SET report_due = now() + make_interval(secs => %s)
           WHERE id = %s AND report_due IS NOT NULL AND report_due <= now()
           RETURNING *""", (hold_seconds, request_id))
