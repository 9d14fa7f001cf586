"""Reading and writing deployments and their steps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Unpack

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from service.ledger.db import ensure_schema, fetch_all, fetch_one
from service.ledger.rows import (
    DeploymentDetails,
    DeploymentRow,
    DeploymentWithSteps,
    IdRow,
    StepRow,
    StepUpdate,
)

MAX_STEP_OUTPUT = 1_000_000  # characters kept per step; the rest is cut with a note

# A deployment's status: queued → running → one of the final ones.
# 'refused': the pre-production checklist said no before anything ran.
FINAL_STATUSES = ("succeeded", "up_to_date", "planned", "rolled_back", "failed",
                  "rollback_failed", "cancelled", "interrupted", "refused")

# What a record is (its `record_kind`, schema.sql): real deployments, and the runs kept for
# the audit trail that deployed nothing. Histories show real deployments unless asked.
RECORD_KINDS = ("deploy", "rollback", "dry-run", "refused", "noop")
REAL = ("deploy", "rollback")


class Ledger:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, *, migrate: bool = True) -> AsyncIterator[Ledger]:
        if migrate:
            await ensure_schema(url)
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
        try:
            yield cls(conn)
        finally:
            await conn.close()

    async def create_deployment(
        self, *, repo: str, environment: str, kind: str, commit_sha: str, ref: str = "",
        trigger: str = "cli", requested_by: str | None = None, pr_number: int | None = None,
        rollback_of: int | None = None, steps: Sequence[tuple[str, str]] = (),
        forced_reason: str | None = None, details: DeploymentDetails | None = None,
    ) -> int:
        async with self.conn.transaction():
            row = await fetch_one(
                self.conn, IdRow,
                """INSERT INTO ledger.deployments (repo, environment, kind, commit_sha, ref,
                       trigger, requested_by, pr_number, rollback_of, forced_reason, details)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (repo, environment, kind, commit_sha, ref, trigger, requested_by, pr_number,
                 rollback_of, forced_reason, Jsonb(details or {})),
            )
            assert row is not None
            dep_id = int(row["id"])
            await self.set_steps(dep_id, steps)
        return dep_id

    async def set_steps(self, deployment_id: int, steps: Sequence[tuple[str, str]]) -> None:
        for position, (name, title) in enumerate(steps):
            await self.conn.execute(
                """INSERT INTO ledger.deployment_steps (deployment_id, name, position, title)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (deployment_id, name) DO UPDATE
                   SET position = EXCLUDED.position, title = EXCLUDED.title""",
                (deployment_id, name, position, title),
            )

    async def mark_running(self, deployment_id: int) -> None:
        await self.conn.execute(
            "UPDATE ledger.deployments SET status = 'running', started_at = now() WHERE id = %s",
            (deployment_id,),
        )

    async def update_step(self, deployment_id: int, name: str,
                          **fields: Unpack[StepUpdate]) -> None:
        allowed = {"status", "message", "started_at", "finished_at", "duration_ms",
                   "undo_status", "undo_message"}
        assert set(fields) <= allowed, set(fields) - allowed
        if not fields:
            return
        sets = ", ".join(f"{k} = %({k})s" for k in fields)
        await self.conn.execute(
            f"UPDATE ledger.deployment_steps SET {sets} "
            "WHERE deployment_id = %(dep)s AND name = %(name)s",
            {**fields, "dep": deployment_id, "name": name},
        )

    async def append_output(self, deployment_id: int, name: str, text: str) -> None:
        await self.conn.execute(
            """UPDATE ledger.deployment_steps
               SET output = CASE WHEN length(output) >= %(max)s THEN output
                                 WHEN length(output) + length(%(text)s) > %(max)s
                                 THEN left(output || %(text)s, %(max)s)
                                      || E'\n… output cut: over %(max)s characters'
                                 ELSE output || %(text)s END
               WHERE deployment_id = %(dep)s AND name = %(name)s""",
            {"text": text if text.endswith("\n") else text + "\n", "max": MAX_STEP_OUTPUT,
             "dep": deployment_id, "name": name},
        )

    async def merge_details(self, deployment_id: int, details: DeploymentDetails) -> None:
        await self.conn.execute(
            "UPDATE ledger.deployments SET details = details || %s WHERE id = %s",
            (Jsonb(details), deployment_id),
        )

    async def journal(self, deployment_id: int, key: str, value: Any) -> None:
        """details.journal[key] = value: what the deployment changed, for recovery."""
        await self.conn.execute(
            """UPDATE ledger.deployments
               SET details = jsonb_set(details || jsonb_build_object('journal',
                                 coalesce(details -> 'journal', '{}'::jsonb)),
                                 ARRAY['journal', %s], %s)
               WHERE id = %s""",
            (key, Jsonb(value), deployment_id),
        )

    async def finish(self, deployment_id: int, *, status: str, failed_step: str | None = None,
                     reason: str | None = None, stop_the_line: str | None = None) -> None:
        assert status in FINAL_STATUSES, status
        await self.conn.execute(
            """UPDATE ledger.deployments
               SET status = %s, failed_step = %s, reason = %s, stop_the_line = %s,
                   finished_at = now()
               WHERE id = %s""",
            (status, failed_step, reason or None, stop_the_line or None, deployment_id),
        )

    async def record_backup(self, *, deployment_id: int | None, repo: str, environment: str,
                            location: str, size_bytes: int, entries: int,
                            server_version_num: int, created_at: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO ledger.backups (deployment_id, repo, environment, location,
                   size_bytes, entries, server_version_num, created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (deployment_id, repo, environment, location, size_bytes, entries,
             server_version_num, created_at),
        )

    async def get(self, deployment_id: int) -> DeploymentWithSteps | None:
        row = await fetch_one(self.conn, DeploymentRow,
                              "SELECT * FROM ledger.deployments WHERE id = %s", (deployment_id,))
        if row is None:
            return None
        steps = await fetch_all(
            self.conn, StepRow,
            "SELECT * FROM ledger.deployment_steps WHERE deployment_id = %s ORDER BY position",
            (deployment_id,))
        return DeploymentWithSteps(**row, steps=steps)

    async def history(self, *, repo: str | None = None, environment: str | None = None,
                      status: str | None = None, kinds: Sequence[str] | None = None,
                      limit: int = 20) -> list[DeploymentRow]:
        """The newest records first; `kinds` (record kinds) None means every record."""
        return await fetch_all(
            self.conn, DeploymentRow,
            """SELECT * FROM ledger.deployments
               WHERE (%(repo)s::text IS NULL OR repo = %(repo)s)
                 AND (%(env)s::text IS NULL OR environment = %(env)s)
                 AND (%(status)s::text IS NULL OR status = %(status)s)
                 AND (%(kinds)s::text[] IS NULL OR record_kind = ANY(%(kinds)s))
               ORDER BY id DESC LIMIT %(limit)s""",
            {"repo": repo, "env": environment, "status": status,
             "kinds": list(kinds) if kinds is not None else None, "limit": limit},
        )

    async def last_successful(self, repo: str, environment: str, *,
                              commit_sha: str | None = None) -> DeploymentRow | None:
        """The latest deployment that left `environment` running its commit. A no-op
        redeploy deployed nothing: the real deployment before it is the one (what a rollback
        undoes), the no-op only when there is none (the environment was set up before the
        bot). A no-op after a deployment that was rolled back later no longer counts: what
        it found is gone."""
        return await fetch_one(
            self.conn, DeploymentRow,
            """SELECT * FROM ledger.deployments d
               WHERE repo = %(repo)s AND environment = %(env)s AND kind = 'deploy'
                 AND status IN ('succeeded', 'up_to_date')
                 AND NOT details ? 'rolled_back_by'
                 AND NOT EXISTS (
                     SELECT 1 FROM ledger.deployments r
                     WHERE r.repo = d.repo AND r.environment = d.environment
                       AND r.kind = 'rollback' AND r.status = 'succeeded'
                       AND r.rollback_of <= d.id AND r.id > d.id)
                 AND (%(sha)s::text IS NULL OR commit_sha = %(sha)s)
               ORDER BY status = 'succeeded' DESC, id DESC LIMIT 1""",
            {"repo": repo, "env": environment, "sha": commit_sha},
        )
