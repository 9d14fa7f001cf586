"""GET /metrics: Prometheus text format, every name prefixed `deploybot_`.

Workers are separate processes, so nothing here lives in this process's memory: what
PostgreSQL knows (deliveries, deployments and their steps, the queue, locks) is counted from
the ledger at scrape time, and the rest (jobs, GitHub calls and rate limit, errors, webhook
answers) is read from the counters every process adds to in Redis (shared.py). A scrape
that cannot reach one of them still answers, with `deploybot_up{source=…} 0`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import LiteralString

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from service.access import metrics_refusal
from service.ledger.db import LedgerPool, fetch_all
from service.ledger.deployments import FINAL_STATUSES
from service.ledger.rows import (
    DeliveryCountRow,
    DeploymentCountRow,
    DurationHistogramRow,
    QueueDepthRow,
    RepoEnvironmentRow,
)
from service.observability import shared
from service.queue import queue_name
from service.web_state import web_state

log = logging.getLogger(__name__)

BUCKETS = shared.DURATION_BUCKETS


def _bucket_counts(expr: str) -> str:
    # Constant bucket bounds, not input: safe to format into the query.
    return "ARRAY[" + ", ".join(f"count(*) FILTER (WHERE {expr} <= {b!r})"
                                for b in BUCKETS) + "] AS buckets"


def _histogram(name: str, doc: str, labels: Sequence[str],
               rows: Iterable[DurationHistogramRow]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    for row in rows:
        buckets = [(repr(float(b)), float(count)) for b, count in zip(BUCKETS, row["buckets"],
                                                                      strict=True)]
        buckets.append(("+Inf", float(row["n"])))
        family.add_metric(row["labels"], buckets, float(row["s"] or 0.0))
    return family


async def from_ledger(db: LedgerPool) -> list[Metric]:
    async with db.connection(timeout=5) as conn:
        deliveries = await fetch_all(
            conn, DeliveryCountRow,
            """SELECT event, status, count(*) AS n FROM ledger.deliveries
               GROUP BY event, status ORDER BY 1, 2""")
        deployments = await fetch_all(
            conn, DeploymentCountRow,
            """SELECT repo, environment, kind, status, count(*) AS n
               FROM ledger.deployments GROUP BY 1, 2, 3, 4
               ORDER BY 1, 2, 3, 4""")
        dep_seconds: LiteralString = "extract(epoch FROM finished_at - started_at)"
        dep_durations = await fetch_all(
            conn, DurationHistogramRow,
            f"""SELECT ARRAY[environment, kind] AS labels, count(*) AS n,
                       sum({dep_seconds}) AS s, {_bucket_counts(dep_seconds)}
                FROM ledger.deployments
                WHERE started_at IS NOT NULL AND finished_at IS NOT NULL
                GROUP BY environment, kind ORDER BY environment, kind""")
        step_seconds: LiteralString = "duration_ms / 1000.0"
        step_durations = await fetch_all(
            conn, DurationHistogramRow,
            f"""SELECT ARRAY[name, status] AS labels, count(*) AS n,
                       sum({step_seconds}) AS s, {_bucket_counts(step_seconds)}
                FROM ledger.deployment_steps WHERE duration_ms IS NOT NULL
                GROUP BY name, status ORDER BY name, status""")
        queue = await fetch_all(
            conn, QueueDepthRow,
            """SELECT repo, environment,
                      count(*) FILTER (WHERE status = 'queued') AS queued,
                      count(*) FILTER (WHERE status = 'running') AS running
               FROM ledger.requests WHERE status IN ('queued', 'running')
               GROUP BY 1, 2 ORDER BY 1, 2""")
        locks = await fetch_all(conn, RepoEnvironmentRow,
                                "SELECT repo, environment FROM ledger.locks ORDER BY 1, 2")

    # Counters count what ended (they must never go down); what is under way is a gauge.
    out: list[Metric] = []
    c = CounterMetricFamily("deploybot_deliveries", "Webhook deliveries handled, by event and "
                            "outcome (processed or failed).", labels=["event", "outcome"])
    pending = GaugeMetricFamily("deploybot_deliveries_pending", "Webhook deliveries recorded "
                                "and not handled yet (received, or being handled).",
                                labels=["event", "state"])
    for r in deliveries:
        if r["status"] in ("processed", "failed"):
            c.add_metric([r["event"], r["status"]], float(r["n"]))
        else:
            pending.add_metric([r["event"], r["status"]], float(r["n"]))
    out += [c, pending]
    c = CounterMetricFamily("deploybot_deployments", "Finished deployments, by outcome.",
                            labels=["repo", "environment", "kind", "outcome"])
    active = GaugeMetricFamily("deploybot_deployments_active", "Deployments queued or running.",
                               labels=["repo", "environment", "kind", "state"])
    for dep in deployments:
        labels = [dep["repo"], dep["environment"], dep["kind"], dep["status"]]
        if dep["status"] in FINAL_STATUSES:
            c.add_metric(labels, float(dep["n"]))
        else:
            active.add_metric(labels, float(dep["n"]))
    out += [c, active]
    out.append(_histogram("deploybot_deployment_duration_seconds",
                          "Duration of finished deployments.", ["environment", "kind"],
                          dep_durations))
    out.append(_histogram("deploybot_step_duration_seconds",
                          "Duration of runbook steps, by step and status.", ["step", "status"],
                          step_durations))
    g = GaugeMetricFamily("deploybot_queue_depth", "Deployment requests waiting for their "
                          "environment.", labels=["repo", "environment"])
    running = GaugeMetricFamily("deploybot_requests_running", "Deployment requests running now.",
                                labels=["repo", "environment"])
    for q in queue:
        g.add_metric([q["repo"], q["environment"]], float(q["queued"]))
        running.add_metric([q["repo"], q["environment"]], float(q["running"]))
    out += [g, running]
    g = GaugeMetricFamily("deploybot_environment_locked", "1 while an environment is locked "
                          "with /lock.", labels=["repo", "environment"])
    for lock in locks:
        g.add_metric([lock["repo"], lock["environment"]], 1.0)
    out.append(g)
    return out


async def from_redis(redis: Redis, prefix: str) -> list[Metric]:
    out: list[Metric] = []
    g = GaugeMetricFamily("deploybot_jobs_queued", "Jobs waiting in the arq queue.")
    g.add_metric([], float(await redis.zcard(queue_name(prefix))))
    out.append(g)

    async def counter(metric: str, name: str, doc: str, labels: list[str]) -> None:
        family = CounterMetricFamily(name, doc, labels=labels)
        for s in sorted(await shared.read(redis, prefix, metric), key=lambda s: str(s.labels)):
            family.add_metric([s.labels.get(k, "") for k in labels], s.value)
        out.append(family)

    await counter("github_calls_total", "deploybot_github_api_calls",
                  "GitHub API requests sent (retries included).", ["method", "route"])
    await counter("github_errors_total", "deploybot_github_api_errors",
                  "GitHub API requests that failed, by HTTP status, timeout or network.",
                  ["method", "route", "reason"])
    await counter("github_retries_total", "deploybot_github_api_retries",
                  "GitHub API requests that were retried.", ["method", "route"])
    await counter("errors_total", "deploybot_errors",
                  "Errors: failed jobs and unhandled exceptions in the web process.",
                  ["component", "where"])
    await counter("webhook_requests_total", "deploybot_webhook_requests",
                  "Answers of the webhook endpoint, by HTTP status.", ["status"])
    remaining = GaugeMetricFamily("deploybot_github_rate_limit_remaining",
                                  "GitHub API requests left in the current rate-limit window.",
                                  labels=["client", "resource"])
    for s in await shared.read(redis, prefix, "github_rate_limit_remaining"):
        remaining.add_metric([s.labels.get("client", ""), s.labels.get("resource", "")],
                             s.value)
    out.append(remaining)
    jobs = HistogramMetricFamily("deploybot_job_duration_seconds",
                                 "Duration of worker jobs, by job and outcome.",
                                 labels=["job", "outcome"])
    for h in await shared.read_histogram(redis, prefix, "job_duration_seconds"):
        jobs.add_metric([h.labels.get("job", ""), h.labels.get("outcome", "")], h.buckets,
                        h.total)
    out.append(jobs)
    return out


class _Prepared:
    """A collector over metric families gathered beforehand (the queries are async)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self.families)


async def render(db: LedgerPool, redis: Redis, prefix: str) -> bytes:
    families: list[Metric] = []
    up = GaugeMetricFamily("deploybot_up", "1 when the scrape could read the source.",
                           labels=["source"])
    for source in ("postgres", "redis"):
        try:
            families += await (from_ledger(db) if source == "postgres"
                               else from_redis(redis, prefix))
            up.add_metric([source], 1.0)
        except Exception:
            log.warning("metrics: cannot read %s", source, exc_info=True)
            up.add_metric([source], 0.0)
    families.append(up)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Prepared(families))
    return generate_latest(registry)


async def metrics_endpoint(request: Request) -> Response:
    refused = metrics_refusal(request)
    if refused is not None:
        return refused
    state = web_state(request)
    # this process's latest counts are part of the answer
    await state.counters.flush(state.redis, state.prefix)
    body = await render(state.db, state.redis, state.prefix)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
