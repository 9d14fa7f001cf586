"""The ledger's rows as the bot reads them: one TypedDict per table (its columns, as
schema.sql declares them) and one per projection a query returns.

Rows are plain dicts at run time (db.fetch_one / fetch_all build them): these types only let
mypy check the keys and value types callers use. Nullable columns are `… | None`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

# A jsonb object as psycopg loads it (deployment details, a watch's settings, a webhook's
# payload): JSON, whose shape is its writer's business, not the ledger's.
JsonObject = dict[str, Any]


class AppliedMigrationJson(TypedDict):
    version: str
    name: str


class ReleaseJson(TypedDict):
    id: int
    commit: str
    slugs: list[str]


class BackupJson(TypedDict):
    location: str
    size_bytes: int
    entries: int


class DeploymentDetails(TypedDict, total=False):
    """deployments.details (jsonb): what a run wrote about itself as it went, every key
    optional (a run that stopped early wrote few). The nested records the bot's own code
    reads are typed; the rest is JSON its writer and reader share."""

    process: JsonObject  # the CLI process running it (workers/cli_runs.py)
    journal: JsonObject  # what it changed, key by key, for recovery (Ledger.journal)
    backup: BackupJson | None  # the backup it took (steps/report.py summary)
    pending: list[str]  # versions of the migrations it found pending
    applied: list[AppliedMigrationJson]  # the migrations it applied, in order
    release: ReleaseJson | None  # the functions release it made active
    previous_release: int | None  # the release active before it
    checklist: JsonObject  # the pre-production checklist as judged (gates)
    rolled_back_by: int  # the rollback that undid it
    watch: JsonObject  # how the watch after it ended (workers/watch)


class IdRow(TypedDict):
    """`RETURNING id` / `SELECT id`: a row's key alone."""

    id: int


class CountRow(TypedDict):
    n: int


class RepoRow(TypedDict):
    repo: str


class EnvironmentRow(TypedDict):
    environment: str


class InstallationRow(TypedDict):
    installation_id: int


# ledger.deployments and ledger.deployment_steps


class _DeploymentColumns(TypedDict):
    """ledger.deployments' stored columns."""

    id: int
    repo: str
    environment: str
    kind: str  # deploy | rollback | dry_run
    commit_sha: str
    ref: str | None
    status: str  # queued | running | one of deployments.FINAL_STATUSES
    trigger: str
    requested_by: str | None
    pr_number: int | None
    rollback_of: int | None
    failed_step: str | None
    reason: str | None
    stop_the_line: str | None
    forced_reason: str | None
    details: DeploymentDetails
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class DeploymentRow(_DeploymentColumns):
    record_kind: str  # generated: deployments.RECORD_KINDS


class StepRow(TypedDict):
    deployment_id: int
    name: str
    position: int
    title: str
    status: str
    message: str
    output: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    undo_status: str | None
    undo_message: str | None


class StepProgressRow(TypedDict):
    """A step's header without its output, and how long the output is (the live stream)."""

    name: str
    position: int
    title: str
    status: str
    message: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    undo_status: str | None
    undo_message: str | None
    out_len: int


class TextRow(TypedDict):
    text: str


class CommitRow(TypedDict):
    commit_sha: str


class DeploymentListRow(_DeploymentColumns):
    """A deployment as GET /api/deployments lists it: its columns but the generated
    `record_kind`, and how long it ran (numeric seconds; None until it finished)."""

    duration_seconds: Decimal | None


class ProcessOwnerRow(TypedDict):
    """A CLI run and the process recorded running it (details.process; cli_runs.py)."""

    id: int
    owner: JsonObject | None


class StepUpdate(TypedDict, total=False):
    """What Ledger.update_step may set on a step (the columns a run writes as it goes)."""

    status: str
    message: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    undo_status: str | None
    undo_message: str | None


class DeploymentWithSteps(DeploymentRow):
    """A deployment with its steps in order (Ledger.get)."""

    steps: list[StepRow]


class DeploymentStateRow(TypedDict):
    """What decides whether a deployment's watch still has a point (watches.ended_by)."""

    repo: str
    environment: str
    status: str
    details: DeploymentDetails


class IdKindRow(TypedDict):
    id: int
    kind: str


class KindCountRow(TypedDict):
    """How many deployment records of a kind (the dashboard's counts)."""

    record_kind: str
    n: int


# Counts for GET /metrics (service/observability/metrics.py)


class DeliveryCountRow(TypedDict):
    event: str
    status: str
    n: int


class DeploymentCountRow(TypedDict):
    repo: str
    environment: str
    kind: str
    status: str
    n: int


class DurationHistogramRow(TypedDict):
    """Durations grouped by two label columns: how many, their sum in seconds, and how many
    at most each bucket bound (cumulative, in the order of the bounds)."""

    labels: list[str]
    n: int
    s: Decimal | None
    buckets: list[int]


class QueueDepthRow(TypedDict):
    repo: str
    environment: str
    queued: int
    running: int


class RepoEnvironmentRow(TypedDict):
    repo: str
    environment: str


# ledger.requests


class RequestRow(TypedDict):
    id: int
    repo: str
    installation_id: int | None
    environment: str
    kind: str  # deploy | rollback | dry_run
    commit_sha: str
    ref: str | None
    pr_number: int | None
    requested_by: str | None
    trigger: str
    comment_id: int | None
    delivery_id: str | None
    rollback_target: int | None
    forced_reason: str | None
    status: str  # queued | running | done | cancelled | superseded
    deployment_id: int | None
    check_run_id: int | None
    gh_deployment_id: int | None
    note: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    report_due: datetime | None
    report_attempts: int
    report_parts: list[str]


class ReportStateRow(TypedDict):
    """A deployment's final report parts GitHub has not taken (requests.report_of)."""

    parts: list[str]
    due: datetime | None  # None: given up
    attempts: int


# ledger.deliveries


class DeliveryRow(TypedDict):
    id: str  # X-GitHub-Delivery
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    payload: str  # the JSON as received: deliveries.read_payload reads it
    status: str
    result: str | None
    attempts: int
    received_at: datetime
    claimed_at: datetime | None
    processed_at: datetime | None


class DeliveryIdRow(TypedDict):
    id: str


# ledger.leases, ledger.locks, ledger.confirmations


class TokenRow(TypedDict):
    token: int


class LeaseRow(TypedDict):
    repo: str
    environment: str
    request_id: int | None
    holder: str | None
    token: int
    acquired_at: datetime
    expires_at: datetime


class LeaseHolderRow(LeaseRow):
    expired: bool


class LockRow(TypedDict):
    repo: str
    environment: str
    owner: str
    pr_number: int | None
    reason: str | None
    since: datetime


class ConfirmationRow(TypedDict):
    repo: str
    environment: str
    item: str
    confirmed_by: str
    confirmed_at: datetime


# ledger.watches, ledger.watch_samples, ledger.watch_breaches


class WatchRow(TypedDict):
    deployment_id: int
    request_id: int | None
    repo: str
    environment: str
    installation_id: int | None
    config: JsonObject  # workers/watch/stored_config.py
    started_at: datetime
    ends_at: datetime
    interval_s: float
    status: str  # watching | passed | breached | stopped
    next_sample: int
    next_at: datetime
    last_sample_at: datetime | None
    note: str | None
    finished_at: datetime | None


class WatchSampleRow(TypedDict):
    deployment_id: int
    seq: int
    at: datetime
    latency_p95_ms: float | None
    error_rate: float | None
    connections: int | None
    requests: int
    errors: int
    probe_status: int | None
    probe_latency_ms: float | None
    source: str
    notes: list[str]
    breaches: list[JsonObject]


class WatchBreachRow(TypedDict):
    deployment_id: int
    seq: int
    at: datetime
    breaches: list[JsonObject]
    summary: str
    auto_rollback: bool
    rollback_request_id: int | None
    reported: list[str]
    handled_at: datetime | None


class DueSampleRow(TypedDict):
    """A watch sample (or a breach's report) whose job is late (watches.overdue)."""

    deployment_id: int
    seq: int


# ledger.pr_heads


class HeadRow(TypedDict):
    head_sha: str
    source: str
    at: datetime


class PendingHeadRow(TypedDict):
    """A `pull_request` delivery not handled yet: its action, the payload's pull request
    (its JSON text, or None), and when it arrived."""

    action: str | None
    pull: str | None
    received_at: datetime
