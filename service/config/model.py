"""The configuration's shape and defaults. Defaults follow the runbook (RUNBOOK.md)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paths:
    migrations: str = "migrations"
    rollbacks: str = "migrations/rollback"
    functions: str = "functions"
    rls_suite: str = "tests/backend/rls_suite.sql"
    smoke: str = "tests/backend/smoke.yml"


@dataclass(frozen=True)
class WatchConfig:
    """Monitoring thresholds (runbook, Key Metrics) and the watch window (1 h)."""

    window_seconds: float = 3600.0
    interval_seconds: float = 30.0
    latency_p95_ms: float = 2000.0
    error_rate: float = 0.01
    max_connections: int = 50
    auto_rollback: bool = False


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    # Names of environment variables, never the secrets themselves.
    database_url_env: str
    anon_key_env: str | None = None
    # The variable holding the JWT secret (HS256) the local function host checks callers'
    # JWTs with; unset: a secret generated and kept in the data dir signs the anon key.
    jwt_secret_env: str | None = None
    functions_url: str | None = None
    production: bool = False
    # Deploy this environment when these branches receive a push / merge.
    deploy_on_push: tuple[str, ...] = ()
    required_permission: str = "write"
    approvals: int = 0
    deploy_window: str | None = None
    requires_staging: str | None = None  # an environment the same commit must pass first
    backup: bool = True
    lock_timeout_ms: int = 5000
    statement_timeout_ms: int = 0
    # How long the database may be unreachable (a restart, a failover) before a step gives
    # up and the deployment is rolled back: reconnection attempts with backoff fit in it.
    reconnect_within: float = 30.0
    watch: WatchConfig = field(default_factory=WatchConfig)
    supabase_project_ref: str | None = None
    lead: str | None = None  # who is mentioned on escalation (@user or @org/team)
    slack_webhook_env: str | None = None  # env var holding a Slack incoming-webhook URL


@dataclass(frozen=True)
class Config:
    environments: dict[str, EnvironmentConfig]
    paths: Paths = field(default_factory=Paths)
    default_branch: str = "main"
    allow_forks: bool = False
    source: str = "built-in default"  # where it was read from, for messages

    def environment(self, name: str) -> EnvironmentConfig | None:
        return self.environments.get(name.lower())


def default_config() -> Config:
    """What a repository without `.github/deploybot.yml` gets: the runbook's two environments."""
    return Config(
        environments={
            "staging": EnvironmentConfig(
                name="staging",
                database_url_env="STAGING_DATABASE_URL",
                anon_key_env="STAGING_ANON_KEY",
                deploy_on_push=("main",),
                watch=WatchConfig(auto_rollback=True),
            ),
            "production": EnvironmentConfig(
                name="production",
                database_url_env="PRODUCTION_DATABASE_URL",
                anon_key_env="PRODUCTION_ANON_KEY",
                production=True,
                required_permission="maintain",
                approvals=1,
                requires_staging="staging",
            ),
        }
    )
