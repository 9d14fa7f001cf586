"""GET /api/deployments: the deployment log as JSON, the same ledger `deploybot history`
reads. Filters: repo, environment, status, kind, since/until (ISO 8601), limit.

Only for a dashboard session or an API token, and only the repositories the caller can read
(service/access.py)."""

from __future__ import annotations

import re
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.access import api_reader
from service.ledger.db import fetch_all
from service.ledger.deployments import FINAL_STATUSES
from service.ledger.rows import DeploymentListRow
from service.web_state import web_state

STATUSES = ("queued", "running", *FINAL_STATUSES)
KINDS = ("deploy", "rollback", "dry_run")
MAX_LIMIT = 500


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _time(value: str | None, name: str) -> datetime | JSONResponse | None:
    if value is None:
        return None
    try:
        # RFC 3339 allows a lower-case t and z; fromisoformat does not
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return _bad(f"`{name}` must be an ISO 8601 time such as 2026-01-07T09:00:00Z, "
                    f"got {value[:40]!r}")
    if parsed.tzinfo is None:
        return _bad(f"`{name}` needs a time zone (e.g. a trailing Z for UTC)")
    return parsed


def _json(row: DeploymentListRow) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in row.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


async def list_deployments(request: Request) -> Response:
    reader = await api_reader(request)
    if isinstance(reader, Response):
        return reader
    q = request.query_params
    unknown = sorted(set(q) - {"repo", "environment", "status", "kind", "since", "until",
                               "limit"})
    if unknown:
        return _bad(f"unknown filter(s): {', '.join(unknown)}; allowed: repo, environment, "
                    "status, kind, since, until, limit")
    status, kind = q.get("status"), q.get("kind")
    if status is not None and status not in STATUSES:
        return _bad(f"`status` must be one of {', '.join(STATUSES)}")
    if kind is not None and kind not in KINDS:
        return _bad(f"`kind` must be one of {', '.join(KINDS)}")
    if any("\x00" in q.get(name, "") for name in ("repo", "environment")):
        # no name holds a NUL (PostgreSQL text cannot): nothing matches
        return JSONResponse({"deployments": [], "count": 0})
    limit_text = q.get("limit", "50")
    # ASCII digits only: '²'.isdigit() is true and int() refuses it
    if not re.fullmatch(r"[0-9]{1,6}", limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
        return _bad(f"`limit` must be a whole number from 1 to {MAX_LIMIT}")
    since, until = _time(q.get("since"), "since"), _time(q.get("until"), "until")
    for t in (since, until):
        if isinstance(t, JSONResponse):
            return t
    async with web_state(request).db.connection() as conn:
        rows = await fetch_all(
            conn, DeploymentListRow,
            """SELECT id, repo, environment, kind, commit_sha, ref, status, trigger,
                      requested_by, pr_number, rollback_of, failed_step, reason,
                      stop_the_line, forced_reason, details, created_at, started_at,
                      finished_at,
                      extract(epoch FROM finished_at - started_at) AS duration_seconds
               FROM ledger.deployments
               WHERE (%(repo)s::text IS NULL OR repo = %(repo)s)
                 AND (%(readable)s::text[] IS NULL OR lower(repo) = ANY(%(readable)s))
                 AND (%(env)s::text IS NULL OR environment = %(env)s)
                 AND (%(status)s::text IS NULL OR status = %(status)s)
                 AND (%(kind)s::text IS NULL OR kind = %(kind)s)
                 AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
                 AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
               ORDER BY id DESC LIMIT %(limit)s""",
            {"repo": q.get("repo"),
             "readable": sorted(reader.repos) if reader.repos is not None else None,
             "env": q.get("environment"), "status": status,
             "kind": kind, "since": since, "until": until, "limit": int(limit_text)})
    items = []
    for r in rows:
        item = _json(r)
        if r["duration_seconds"] is not None:
            item["duration_seconds"] = float(r["duration_seconds"])
        items.append(item)
    return JSONResponse({"deployments": items, "count": len(items)})
