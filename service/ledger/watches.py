"""The watch after a deployment, kept in PostgreSQL: where each watch stands, its samples
(what the dashboard charts) and the breach that ended it.

Every transition is a compare-and-set on (status, next_sample), so a sample job that runs
twice (a retry, or a job re-enqueued by `overdue`) records nothing the second time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from service.ledger.db import fetch_all, fetch_one
from service.ledger.rows import (
    DeploymentStateRow,
    DueSampleRow,
    IdKindRow,
    IdRow,
    WatchBreachRow,
    WatchRow,
    WatchSampleRow,
)

FINAL = ("passed", "breached", "stopped")


@dataclass(frozen=True)
class SampleRow:
    """One sample as stored; None where the figure could not be taken."""

    seq: int
    at: datetime
    latency_p95_ms: float | None
    error_rate: float | None
    connections: int | None
    requests: int
    errors: int
    probe_status: int | None = None
    probe_latency_ms: float | None = None
    source: str = ""
    notes: tuple[str, ...] = ()
    breaches: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BreachRow:
    summary: str
    breaches: list[dict[str, Any]]
    auto_rollback: bool


async def create(conn: psycopg.AsyncConnection[Any], *, deployment_id: int,
                 request_id: int | None, repo: str, environment: str,
                 installation_id: int | None, config: dict[str, Any], started_at: datetime,
                 ends_at: datetime, interval_s: float, first_at: datetime) -> bool:
    """Start watching a deployment; False when it is watched already."""
    cur = await conn.execute(
        """INSERT INTO ledger.watches (deployment_id, request_id, repo, environment,
               installation_id, config, started_at, ends_at, interval_s, next_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (deployment_id) DO NOTHING""",
        (deployment_id, request_id, repo, environment, installation_id, Jsonb(config),
         started_at, ends_at, interval_s, first_at))
    return cur.rowcount == 1


async def get(conn: psycopg.AsyncConnection[Any], deployment_id: int) -> WatchRow | None:
    return await fetch_one(conn, WatchRow,
                           "SELECT * FROM ledger.watches WHERE deployment_id = %s",
                           (deployment_id,))


async def record_sample(conn: psycopg.AsyncConnection[Any], deployment_id: int,
                        sample: SampleRow, *, status: str, next_at: datetime,
                        note: str | None = None, breach: BreachRow | None = None) -> bool:
    """Store sample `seq` and move the watch on (to `status`); False when that sample was
    taken already or the watch ended meanwhile."""
    async with conn.transaction():
        cur = await conn.execute(
            """UPDATE ledger.watches
               SET next_sample = %(seq)s + 1, next_at = %(next_at)s, last_sample_at = %(at)s,
                   status = %(status)s, note = coalesce(%(note)s, note),
                   finished_at = CASE WHEN %(status)s = 'watching' THEN NULL ELSE now() END
               WHERE deployment_id = %(dep)s AND status = 'watching'
                 AND next_sample = %(seq)s""",
            {"seq": sample.seq, "next_at": next_at, "at": sample.at, "status": status,
             "note": note, "dep": deployment_id})
        if cur.rowcount != 1:
            return False
        await conn.execute(
            """INSERT INTO ledger.watch_samples (deployment_id, seq, at, latency_p95_ms,
                   error_rate, connections, requests, errors, probe_status, probe_latency_ms,
                   source, notes, breaches)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (deployment_id, seq) DO NOTHING""",
            (deployment_id, sample.seq, sample.at, sample.latency_p95_ms, sample.error_rate,
             sample.connections, sample.requests, sample.errors, sample.probe_status,
             sample.probe_latency_ms, sample.source, list(sample.notes),
             Jsonb(sample.breaches)))
        if breach is not None:
            await conn.execute(
                """INSERT INTO ledger.watch_breaches (deployment_id, seq, at, breaches,
                       summary, auto_rollback)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (deployment_id) DO NOTHING""",
                (deployment_id, sample.seq, sample.at, Jsonb(breach.breaches), breach.summary,
                 breach.auto_rollback))
    return True


async def skip(conn: psycopg.AsyncConnection[Any], deployment_id: int, seq: int,
               next_at: datetime, note: str) -> bool:
    """Move past sample `seq` without taking it (another deployment of the environment was
    running); False when it was taken or skipped already."""
    cur = await conn.execute(
        """UPDATE ledger.watches SET next_sample = %s + 1, next_at = %s, note = %s
           WHERE deployment_id = %s AND status = 'watching' AND next_sample = %s""",
        (seq, next_at, note, deployment_id, seq))
    return cur.rowcount == 1


async def finish(conn: psycopg.AsyncConnection[Any], deployment_id: int, status: str,
                 note: str) -> bool:
    assert status in FINAL, status
    cur = await conn.execute(
        """UPDATE ledger.watches SET status = %s, note = %s, finished_at = now()
           WHERE deployment_id = %s AND status = 'watching'""",
        (status, note, deployment_id))
    return cur.rowcount == 1


async def ended_by(conn: psycopg.AsyncConnection[Any], deployment_id: int) -> str | None:
    """Why watching `deployment_id` has no point any more, or None: it was rolled back, a
    newer deployment or rollback of its environment succeeded, or it is not a deployment
    that succeeded."""
    dep = await fetch_one(
        conn, DeploymentStateRow,
        "SELECT repo, environment, status, details FROM ledger.deployments WHERE id = %s",
        (deployment_id,))
    if dep is None:
        return f"deployment #{deployment_id} is gone"
    if dep["status"] != "succeeded":
        return f"deployment #{deployment_id} is {dep['status']}"
    if (dep["details"] or {}).get("rolled_back_by"):
        return f"rolled back by #{dep['details']['rolled_back_by']}"
    newer = await fetch_one(
        conn, IdKindRow,
        """SELECT id, kind FROM ledger.deployments
           WHERE repo = %s AND environment = %s AND id > %s AND status = 'succeeded'
             AND kind IN ('deploy', 'rollback')
           ORDER BY id LIMIT 1""", (dep["repo"], dep["environment"], deployment_id))
    if newer is not None:
        what = "a rollback" if newer["kind"] == "rollback" else "a newer deployment"
        return f"superseded by {what} (#{newer['id']})"
    return None


async def environment_busy(conn: psycopg.AsyncConnection[Any], repo: str,
                           environment: str) -> int | None:
    """The request running in the environment now, if any."""
    row = await fetch_one(
        conn, IdRow,
        """SELECT id FROM ledger.requests WHERE repo = %s AND environment = %s
             AND status = 'running' ORDER BY id LIMIT 1""", (repo, environment))
    return int(row["id"]) if row else None


async def samples(conn: psycopg.AsyncConnection[Any], deployment_id: int
                  ) -> list[WatchSampleRow]:
    return await fetch_all(
        conn, WatchSampleRow,
        "SELECT * FROM ledger.watch_samples WHERE deployment_id = %s ORDER BY seq",
        (deployment_id,))


async def breach(conn: psycopg.AsyncConnection[Any], deployment_id: int
                 ) -> WatchBreachRow | None:
    return await fetch_one(conn, WatchBreachRow,
                           "SELECT * FROM ledger.watch_breaches WHERE deployment_id = %s",
                           (deployment_id,))


async def set_rollback_request(conn: psycopg.AsyncConnection[Any], deployment_id: int,
                               request_id: int) -> None:
    await conn.execute(
        "UPDATE ledger.watch_breaches SET rollback_request_id = %s WHERE deployment_id = %s",
        (request_id, deployment_id))


async def add_reported(conn: psycopg.AsyncConnection[Any], deployment_id: int,
                       action: str) -> None:
    """Note that one of the breach's reports went through (a retry skips it)."""
    await conn.execute(
        """UPDATE ledger.watch_breaches SET reported = array_append(reported, %s)
           WHERE deployment_id = %s AND NOT %s = ANY (reported)""",
        (action, deployment_id, action))


async def mark_handled(conn: psycopg.AsyncConnection[Any], deployment_id: int) -> None:
    await conn.execute(
        "UPDATE ledger.watch_breaches SET handled_at = now() WHERE deployment_id = %s",
        (deployment_id,))


async def overdue(conn: psycopg.AsyncConnection[Any], grace_s: float) -> list[DueSampleRow]:
    """Watches whose next sample is late by more than an interval and `grace_s` (its job was
    lost), and breaches not fully reported `grace_s` after they were found (retried for an
    hour, then left to people): rows of (deployment_id, seq)."""
    return await fetch_all(
        conn, DueSampleRow,
        """SELECT deployment_id, next_sample AS seq FROM ledger.watches
           WHERE status = 'watching'
             AND next_at < now() - make_interval(secs => interval_s + %(grace)s)
           UNION ALL
           SELECT deployment_id, seq FROM ledger.watch_breaches
           WHERE handled_at IS NULL AND at < now() - make_interval(secs => %(grace)s)
             AND at > now() - interval '1 hour'
           ORDER BY deployment_id""", {"grace": grace_s})
