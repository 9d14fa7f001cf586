"""Gather the facts the gates judge: from the ledger, from GitHub, from Supabase."""

from __future__ import annotations

from datetime import UTC, datetime

from service.config.model import EnvironmentConfig
from service.github.client import InstallationClient
from service.ledger import confirmations
from service.ledger.db import fetch_one
from service.ledger.deployments import Ledger
from service.ledger.rows import IdKindRow, IdRow
from service.settings import Settings
from workers.drivers.supabase_api import SupabaseApiError
from workers.gates.approvals import approvers
from workers.gates.facts import GateFacts, StagingRecord
from workers.gates.supabase_auth import leaked_password_protection


async def _with_steps(ledger: Ledger, deployment_id: int) -> StagingRecord:
    d = await ledger.get(deployment_id)
    assert d is not None
    steps = {s["name"]: s["status"] for s in d["steps"]}
    # No `tested_in` yet (staging_record adds it): mypy cannot know that a row from
    # Ledger.get lacks the key, hence the ignore.
    return {**d, "steps": steps}  # type: ignore[typeddict-item]


async def staging_record(ledger: Ledger, repo: str, environment: str, commit: str
                         ) -> StagingRecord | None:
    """The latest deployment of `commit` to `environment` (a successful one first), with
    its steps. A no-op ran no tests: it carries `tested_in`, the deployment that made the
    state it found (whose tests are the ones that ran on it), or None when that was none."""
    row = await fetch_one(
        ledger.conn, IdRow,
        """SELECT id FROM ledger.deployments
           WHERE repo = %s AND environment = %s AND commit_sha = %s AND kind = 'deploy'
             AND status IN ('succeeded', 'up_to_date')
           ORDER BY id DESC LIMIT 1""", (repo, environment, commit))
    if row is None:
        row = await fetch_one(
            ledger.conn, IdRow,
            """SELECT id FROM ledger.deployments
               WHERE repo = %s AND environment = %s AND commit_sha = %s AND kind = 'deploy'
               ORDER BY id DESC LIMIT 1""", (repo, environment, commit))
    if row is None:
        return None
    d = await _with_steps(ledger, int(row["id"]))
    if d["status"] == "up_to_date":
        maker = await fetch_one(
            ledger.conn, IdKindRow,
            """SELECT id, kind FROM ledger.deployments
               WHERE repo = %s AND environment = %s AND id < %s
                 AND kind IN ('deploy', 'rollback') AND status = 'succeeded'
               ORDER BY id DESC LIMIT 1""", (repo, environment, d["id"]))
        # A rollback made it: its tests were not the runbook's RLS and smoke tests.
        d["tested_in"] = (await _with_steps(ledger, int(maker["id"]))
                          if maker is not None and maker["kind"] == "deploy" else None)
    return d


async def gather(ledger: Ledger, env: EnvironmentConfig, *, repo: str, commit: str,
                 client: InstallationClient | None = None, pr_number: int | None = None,
                 forced_reason: str | None = None, now: datetime | None = None,
                 settings: Settings | None = None) -> GateFacts:
    """Facts for `env`'s gates; GitHub's are left unknown when there is no client or PR.
    A hosted project's leaked password protection is enabled here when configured."""
    facts = GateFacts(environment=env.name, commit=commit, now=now or datetime.now(UTC),
                      forced_reason=forced_reason, staging_env=env.requires_staging,
                      source="github" if client is not None else "cli", pr_number=pr_number)
    if env.requires_staging:
        facts.staging = await staging_record(ledger, repo, env.requires_staging, commit)
    if client is not None:
        if pr_number is not None:
            pull = await client.get_pull(repo, pr_number)
            facts.pr_author = str((pull.get("user") or {}).get("login") or "")
            facts.reviews = await client.list_pull_reviews(repo, pr_number)
            facts.reviewer_permissions = {
                login.lower(): str(await client.get_collaborator_permission(repo, login))
                for login in approvers(facts.reviews, facts.pr_author)}
        facts.combined_status = await client.get_combined_status(repo, commit)
        facts.check_runs = await client.list_check_runs_for_ref(repo, commit)
    if env.supabase_project_ref:
        from workers.environments import EnvironmentError_, management_api

        try:
            api = management_api(env, settings or Settings.from_env())
            state = await leaked_password_protection(
                api, enable=env.enable_leaked_password_protection)
        except (EnvironmentError_, SupabaseApiError) as exc:
            facts.hibp_error = str(exc)
        else:
            facts.hibp_enabled = state.enabled
            facts.hibp_enabled_now = state.enabled_now
            facts.hibp_unavailable = state.unavailable
    if not env.supabase_project_ref or facts.hibp_unavailable:
        facts.hibp_confirmation = await confirmations.get(
            ledger.conn, repo, env.name, "leaked-password-protection")
    return facts
