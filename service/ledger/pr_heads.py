"""Each pull request's head commits, as the bot learned of them (ledger.pr_heads).

A deploy from a comment deploys the head the commenter saw; the only trustworthy times of a
head change are GitHub's time of the event and ours of its delivery — never the commit's
own dates, which whoever pushes writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from service.ledger.db import fetch_all
from service.ledger.deliveries import read_json
from service.ledger.rows import HeadRow, PendingHeadRow

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True)
class HeadRecord:
    sha: str
    source: str  # opened | synchronize | reopened | observed
    at: datetime  # GitHub's time of the event, else when we received / saw it


async def record_event(conn: psycopg.AsyncConnection[Any], *, repo: str, pr_number: int,
                       sha: str, action: str, delivery_id: str,
                       event_at: datetime | None) -> bool:
    """A `pull_request` delivery's head; received_at is the delivery's own arrival time.
    False when this delivery was recorded already (a redelivery)."""
    cur = await conn.execute(
        """INSERT INTO ledger.pr_heads
               (repo, pr_number, head_sha, source, delivery_id, event_at, received_at)
           SELECT %s, %s, %s, %s, %s, %s,
                  coalesce((SELECT received_at FROM ledger.deliveries WHERE id = %s), now())
           ON CONFLICT (delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING
           RETURNING id""",
        (repo, pr_number, sha, action, delivery_id, event_at, delivery_id))
    return await cur.fetchone() is not None


async def record_observed(conn: psycopg.AsyncConnection[Any], *, repo: str, pr_number: int,
                          sha: str) -> None:
    """A head the bot read from GitHub itself without a record of when it arrived: from now
    on it is known to be the head (a later comment can deploy it)."""
    await conn.execute(
        """INSERT INTO ledger.pr_heads (repo, pr_number, head_sha, source)
           VALUES (%s, %s, %s, 'observed')""", (repo, pr_number, sha))


async def history(conn: psycopg.AsyncConnection[Any], repo: str, pr_number: int
                  ) -> list[HeadRecord]:
    """Every head of the pull request the bot has received, oldest first: the recorded ones,
    and those of `pull_request` deliveries taken in but not handled yet (a comment handled
    first must still know of a push delivered before it)."""
    heads = await fetch_all(
        conn, HeadRow,
        """SELECT head_sha, source, coalesce(event_at, received_at) AS at
           FROM ledger.pr_heads WHERE repo = %s AND pr_number = %s
           ORDER BY coalesce(event_at, received_at), id""", (repo, pr_number))
    records = [HeadRecord(str(r["head_sha"]), str(r["source"]), r["at"]) for r in heads]
    pending_rows = await fetch_all(
        conn, PendingHeadRow,
        # json, not jsonb: the text as received, its numbers not converted (read_json)
        """SELECT action, (payload::json -> 'pull_request')::text AS pull, received_at
           FROM ledger.deliveries
           WHERE status IN ('received', 'handling') AND event = 'pull_request'
             AND action IN ('opened', 'synchronize', 'reopened') AND repo = %s""", (repo,))
    for row in pending_rows:
        pending = _pending(row, pr_number)
        if pending is not None:
            records.append(pending)
    return sorted(records, key=lambda r: r.at)


def _pending(row: PendingHeadRow, pr_number: int) -> HeadRecord | None:
    """A delivery's head, when its payload names this pull request and a commit."""
    pull = read_json(row["pull"]) if row["pull"] is not None else None
    if not isinstance(pull, dict) or pull.get("number") != pr_number:
        return None
    sha = (pull.get("head") or {}).get("sha") if isinstance(pull.get("head"), dict) else None
    if not isinstance(sha, str) or not _SHA.match(sha):
        return None
    at: datetime = row["received_at"]
    updated = pull.get("updated_at")
    if isinstance(updated, str):
        try:
            parsed = datetime.fromisoformat(updated.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            at = parsed
    return HeadRecord(sha, str(row["action"]), at)
