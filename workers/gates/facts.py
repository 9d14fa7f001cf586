"""What the gates are judged on, gathered before they are evaluated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired

from service.ledger.rows import ConfirmationRow, DeploymentRow


class StagingRecord(DeploymentRow):
    """A deployment with its steps as {name: status}; a no-op carries `tested_in`, the
    deployment that made the state it found (None when that was none)."""

    steps: dict[str, str]
    tested_in: NotRequired[StagingRecord | None]


@dataclass
class GateFacts:
    environment: str
    commit: str
    now: datetime
    # The latest deployment of the same commit to the environment it must pass first, with
    # its steps ({name: status}); None when there is none.
    staging: StagingRecord | None = None
    staging_env: str | None = None
    # Pull-request facts; None where they cannot be known (the CLI has no GitHub).
    pr_number: int | None = None
    pr_author: str | None = None
    reviews: list[dict[str, Any]] | None = None
    # The role (admin … none) of each reviewer whose latest verdict approves, by lower-cased
    # login: only approvals from `write` or more count.
    reviewer_permissions: dict[str, str] | None = None
    combined_status: dict[str, Any] | None = None
    check_runs: list[dict[str, Any]] | None = None
    # Leaked password protection: True/False from the Supabase Management API, or a
    # recorded confirmation {by, at}; None when neither is known.
    hibp_enabled: bool | None = None
    hibp_confirmation: ConfirmationRow | None = None
    hibp_error: str | None = None
    hibp_enabled_now: bool = False  # turned on by deploybot while gathering
    hibp_unavailable: str | None = None  # the project's plan cannot have it (402)
    forced_reason: str | None = None
    source: str = "github"  # "github" or "cli"
    notes: list[str] = field(default_factory=list)
