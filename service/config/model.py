"""The configuration's shape and defaults. Defaults follow the runbook (RUNBOOK.md)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paths:
    migrations: str = "migrations"
    rollbacks: str = "migrations/rollback"
    functions: str = "functions"
    # pgTAP tests: one .sql file or a directory of them (`rls_suite` is its older name).
    tests: str = "tests/backend/rls_suite.sql"
    smoke: str = "tests/backend/smoke.yml"
    # Data every pgTAP file sees: this SQL file runs at the start of each file's transaction,
    # which is rolled back (pgTAP suites written for `supabase test db` expect
    # supabase/seed.sql, which `supabase db reset` loads). Unset: none; it never runs on
    # the environment itself.
    test_seed: str = ""

    @property
    def rls_suite(self) -> str:
        """The older name of `tests`."""
        return self.tests


# The Supabase CLI's layout (`supabase init`): what a repository with a `supabase/` folder
# gets for every path its configuration does not set. The CLI reads only
# supabase/migrations/*.sql, so rollback scripts in a folder below it do not disturb it.
# supabase/seed.sql is the CLI's local development data: never run on an environment.
SUPABASE_PATHS = Paths(
    migrations="supabase/migrations",
    rollbacks="supabase/migrations/rollback",
    functions="supabase/functions",
    tests="supabase/tests",
    smoke="supabase/tests/smoke.yml",
    test_seed="",
)


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
    # Approvals count only on the commit being deployed, unless this accepts those given on
    # any earlier commit of the pull request.
    approvals_on_any_commit: bool = False
    deploy_window: str | None = None
    requires_staging: str | None = None  # an environment the same commit must pass first
    backup: bool = True
    lock_timeout_ms: int = 5000
    statement_timeout_ms: int = 0
    # How long the database may be unreachable (a restart, a failover) before a step gives
    # up and the deployment is rolled back: reconnection attempts with backoff fit in it.
    reconnect_within: float = 30.0
    watch: WatchConfig = field(default_factory=WatchConfig)
    # A hosted Supabase project: functions go through its Management API with the personal
    # access token in the variable named here (SUPABASE_ACCESS_TOKEN when unset).
    supabase_project_ref: str | None = None
    supabase_access_token_env: str | None = None
    # Turn leaked password protection on through the API when the gates find it off.
    enable_leaked_password_protection: bool = False
    lead: str | None = None  # who is mentioned on escalation (@user or @org/team)
    slack_webhook_env: str | None = None  # env var holding a Slack incoming-webhook URL
    # What squawk's findings on pending migrations do: annotate (warn), stop the
    # deployment in preflight (block), or nothing (off).
    squawk: str = "warn"
    # "required": every pending migration needs a rollback script (or the no-op marker);
    # "backup": one without is undone by restoring the verified backup. Unset: required on
    # production, backup elsewhere (real Supabase projects have no rollback scripts).
    rollback_scripts: str | None = None

    @property
    def requires_rollback_scripts(self) -> bool:
        if self.rollback_scripts is None:
            return self.production
        return self.rollback_scripts == "required"


@dataclass(frozen=True)
class Config:
    environments: dict[str, EnvironmentConfig]
    paths: Paths = field(default_factory=Paths)
    default_branch: str = "main"
    allow_forks: bool = False
    source: str = "built-in default"  # where it was read from, for messages
    # The `paths` keys the file set itself; the others follow the pinned commit's layout.
    paths_set: frozenset[str] = frozenset()

    def environment(self, name: str) -> EnvironmentConfig | None:
        return self.environments.get(name.lower())


DEFAULT_ACCESS_TOKEN_ENV = "SUPABASE_ACCESS_TOKEN"  # noqa: S105 (a variable's name)


def access_token_env(env: EnvironmentConfig) -> str:
    return env.supabase_access_token_env or DEFAULT_ACCESS_TOKEN_ENV


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
