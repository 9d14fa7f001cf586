"""The configuration's shape: every key of `.github/deploybot.yml`, its default and what it
allows, in one place. Defaults follow the runbook (RUNBOOK.md).

These pydantic dataclasses are both what the file is validated against and what the code
reads (load.py turns their errors into messages, schema.py their shape into the JSON
Schema editors use). What only the file means — an environment named after a default one
starts from it, an empty key is unset — applies when they validate a file
(`FILE_CONTEXT`), never to a configuration built in code.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ArgsKwargs, InitErrorDetails

from service.config.kinds import Branches, Duration, Flag, Number, OneOf, Text, refuse
from service.permissions import CONFIGURABLE

# Validating a file rather than building a configuration in code (see the module's doc).
FILE_CONTEXT = {"file": True}
# Fields the code sets and a file cannot: reachable only by these names, absent from the
# schema (a file writing `name:` gets "unknown key").
INTERNAL = "(set by deploybot) "


def _shape(schema_extra: Callable[[dict[str, Any]], None] | None = None) -> ConfigDict:
    # extra="forbid": every key a file may hold is a field. validate_by_name: code builds
    # WatchConfig(window_seconds=…) where a file writes `window:` (from_file validates by
    # the file's names only). A field's docstring is its description in the schema.
    return ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                      use_attribute_docstrings=True, json_schema_extra=schema_extra)


SQUAWK_MODES = ("warn", "block", "off")
ROLLBACK_POLICIES = ("required", "backup")
ENV_NAME = r"^[a-z][a-z0-9_-]{0,39}$"

EnvName = Annotated[str, Text(ENV_NAME, message="environment names are lower-case letters, "
                                                "digits, - and _, starting with a letter")]
EnvVar = Annotated[str, Text(r"^[A-Za-z_][A-Za-z0-9_]*$",
                             "an environment variable name like STAGING_DATABASE_URL")]
RelPath = Annotated[str, Text(r"^(?!/)(?!.*\.\.)[\w./-]+$",
                              "a relative path inside the repository"),
                    AfterValidator(lambda p: p.rstrip("/"))]
SeedPath = Annotated[str, Text(r"^$|^(?!/)(?!.*\.\.)[\w./-]+$",  # empty: none
                               "a relative path inside the repository"),
                     AfterValidator(lambda p: p.rstrip("/"))]


def file_fields(cls: type) -> dict[str, str]:
    """The keys a file may give a model, as it writes them (`window`, not window_seconds),
    each with the field it sets."""
    keys = {}
    for f in dataclasses.fields(cls):
        alias = cls.__pydantic_fields__[f.name].validation_alias  # type: ignore[attr-defined]
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        key = alias if isinstance(alias, str) else f.name
        if not key.startswith(INTERNAL):
            keys[key] = f.name
    return keys


def file_keys(cls: type) -> list[str]:
    return list(file_fields(cls))


def _file_values(cls: type, data: Any, info: ValidationInfo, keep: tuple[str, ...] = ()
                 ) -> Any:
    """In a file, a key left empty (`anon_key_env:`) is unset: its default applies (an
    unknown key stays, to be named)."""
    if info.context != FILE_CONTEXT or isinstance(data, ArgsKwargs):
        return data
    if data is None:
        return {}
    if isinstance(data, dict):
        unset = set(file_keys(cls)).difference(keep)
        return {k: v for k, v in data.items() if v is not None or k not in unset}
    return data


def _refused(title: str, errors: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """Several rule messages at once, each at its key."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=refuse(message), loc=loc, input=None) for loc, message in errors])


def _window(text: str) -> str:
    from service.config.window import DeployWindow, WindowError

    try:
        DeployWindow.parse(text)
    except WindowError as exc:
        raise refuse(str(exc)) from None
    return text


@dataclass(frozen=True, config=_shape())
class Paths:
    """Where the repository keeps its backend. Unset keys follow the Supabase CLI's layout
    when the repository has a `supabase/` folder (README, Configuration)."""

    migrations: RelPath = "migrations"
    rollbacks: RelPath = "migrations/rollback"
    functions: RelPath = "functions"
    tests: RelPath = Field(default="tests/backend/rls_suite.sql",
                           validation_alias=AliasChoices("tests", "rls_suite"))
    """pgTAP tests: one .sql file or a directory of them (`rls_suite` is its older name)."""
    smoke: RelPath = "tests/backend/smoke.yml"
    test_seed: SeedPath = ""
    """Data every pgTAP file sees: this SQL file runs at the start of each file's
    transaction, which is rolled back (suites written for `supabase test db` expect
    supabase/seed.sql). Unset: none; it never runs on the environment itself."""

    @model_validator(mode="before")
    @classmethod
    def _file(cls, data: Any, info: ValidationInfo) -> Any:
        data = _file_values(cls, data, info)
        if isinstance(data, dict) and "rls_suite" in data and "tests" in data:
            raise _refused("Paths", [(("rls_suite",), "is the older name of paths.tests; set "
                                                      "only paths.tests")])
        return data

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


@dataclass(frozen=True, config=_shape())
class WatchConfig:
    """Monitoring after a deployment: thresholds (runbook, Key Metrics) and the window."""

    window_seconds: Annotated[float, Duration()] = Field(default=3600.0,
                                                         validation_alias="window")
    """How long the environment is watched (1h)."""
    interval_seconds: Annotated[float, Duration()] = Field(default=30.0,
                                                           validation_alias="interval")
    """How often it is sampled."""
    latency_p95_ms: Annotated[float, Number(1, 600_000)] = 2000.0
    error_rate: Annotated[float, Number(0, 1)] = 0.01
    max_connections: Annotated[int, Number(1, 100_000, whole=True)] = 50
    auto_rollback: Annotated[bool, Flag()] = False
    """Roll back by itself on a breach (otherwise a Rollback button is offered)."""

    @model_validator(mode="before")
    @classmethod
    def _file(cls, data: Any, info: ValidationInfo) -> Any:
        return _file_values(cls, data, info)


def _not_a_token(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("sbp_", "sbp-")):
        # A personal access token pasted where its variable's name belongs: never echo it.
        raise refuse("this is an access token itself, not the name of the variable holding "
                     "it; revoke it (it is in the repository now), put the new one in a "
                     "variable such as SUPABASE_ACCESS_TOKEN and name that here")
    return value


def _no_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def _optional_in_file(schema: dict[str, Any]) -> None:
    """A file may leave out any key: what is required in code has a default there."""
    schema.pop("required", None)


# What an environment named like a built-in one starts from, as a file would write it.
NAMED_DEFAULTS: dict[str, dict[str, Any]] = {
    "staging": {"anon_key_env": "STAGING_ANON_KEY", "deploy_on_push": ["main"],
                "watch": {"auto_rollback": True}},
    "production": {"anon_key_env": "PRODUCTION_ANON_KEY", "production": True,
                   "required_permission": "maintain", "approvals": 1,
                   "requires_staging": "staging"},
}


def _environment_schema(schema: dict[str, Any]) -> None:
    _optional_in_file(schema)
    schema["description"] += "".join(
        f"\n{name}: {json.dumps(values)}" for name, values in NAMED_DEFAULTS.items())


@dataclass(frozen=True, config=_shape(_environment_schema))
class EnvironmentConfig:
    """One environment a deployment targets. One named like a built-in environment starts
    from it (below); every other from the defaults, its database URL in the variable
    <NAME>_DATABASE_URL. Built in:"""

    name: SkipJsonSchema[Annotated[str, Field(validation_alias=INTERNAL + "name")]]
    database_url_env: EnvVar
    """The variable holding the database URL (a name, never the URL itself)."""
    anon_key_env: EnvVar | None = None
    jwt_secret_env: EnvVar | None = None
    """The variable holding the JWT secret (HS256) the local function host checks callers'
    JWTs with; unset: a secret generated and kept in the data dir signs the anon key."""
    functions_url: Annotated[str, Text(r"^https?://\S+$", "an http(s) URL"),
                             AfterValidator(_no_trailing_slash)] | None = None
    production: Annotated[bool, Flag()] = False
    deploy_on_push: Annotated[tuple[str, ...], Branches()] = ()
    """Deploy this environment when these branches receive a push / merge."""
    required_permission: Annotated[str, OneOf(CONFIGURABLE)] = "write"
    approvals: Annotated[int, Number(0, 10, whole=True)] = 0
    approvals_on_any_commit: Annotated[bool, Flag()] = False
    """Approvals count only on the commit being deployed, unless this accepts those given
    on any earlier commit of the pull request."""
    deploy_window: Annotated[str, Text(), AfterValidator(_window)] | None = None
    """When deployments may run, e.g. `Mon-Thu 09:00-16:00 America/Toronto`."""
    requires_staging: Annotated[str, Text()] | None = None
    """An environment the same commit must pass first."""
    backup: Annotated[bool, Flag()] = True
    lock_timeout_ms: Annotated[int, Number(1, 600_000, whole=True)] = 5000
    statement_timeout_ms: Annotated[int, Number(0, 86_400_000, whole=True)] = 0
    reconnect_within: Annotated[float, Duration(1.0, 600.0)] = 30.0
    """How long the database may be unreachable (a restart, a failover) before a step
    gives up and the deployment is rolled back: reconnection attempts with backoff fit."""
    watch: WatchConfig = Field(default_factory=lambda: WatchConfig())
    supabase_project_ref: Annotated[str, Text(
        r"^[a-z]{20}$", "a project ref: the 20 lower-case letters in the project's "
                        "dashboard URL")] | None = None
    """A hosted Supabase project: functions go through its Management API with the personal
    access token in the variable `supabase_access_token_env` names."""
    supabase_access_token_env: Annotated[EnvVar, BeforeValidator(_not_a_token)] | None = None
    """Unset: SUPABASE_ACCESS_TOKEN."""
    enable_leaked_password_protection: Annotated[bool, Flag()] = False
    """Turn leaked password protection on through the API when the gates find it off."""
    lead: Annotated[str, Text()] | None = None
    """Who is mentioned on escalation (@user or @org/team)."""
    slack_webhook_env: EnvVar | None = None
    """The variable holding a Slack incoming-webhook URL."""
    squawk: Annotated[str, OneOf(SQUAWK_MODES)] = "warn"
    """What squawk's findings on pending migrations do: annotate (warn), stop the
    deployment in preflight (block), or nothing (off)."""
    rollback_scripts: Annotated[str, OneOf(ROLLBACK_POLICIES)] | None = None
    """required: every pending migration needs a rollback script (or the no-op marker);
    backup: one without is undone by restoring the verified backup. Unset: required on
    production, backup elsewhere (real Supabase projects have no rollback scripts)."""

    @model_validator(mode="before")
    @classmethod
    def _file(cls, data: Any, info: ValidationInfo) -> Any:
        return _file_values(cls, data, info)

    @model_validator(mode="after")
    def _hosted_only(self) -> EnvironmentConfig:
        if self.supabase_project_ref is not None:
            return self
        said = [k for k, on in (("supabase_access_token_env", self.supabase_access_token_env),
                                ("enable_leaked_password_protection",
                                 self.enable_leaked_password_protection)) if on]
        if said:
            raise _refused("EnvironmentConfig", [
                ((k,), "only allowed for a hosted Supabase project: set "
                       f"environments.{self.name}.supabase_project_ref too") for k in said])
        return self

    @property
    def requires_rollback_scripts(self) -> bool:
        if self.rollback_scripts is None:
            return self.production
        return self.rollback_scripts == "required"


def default_database_url_env(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_DATABASE_URL"


def _is_name(name: Any) -> bool:
    return isinstance(name, str) and re.match(ENV_NAME, name) is not None


def _environment_in_file(name: Any, raw: Any) -> Any:
    """A file's environment over what its name starts from (the file wins, key by key)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return raw  # "expected a mapping"
    given = {k: v for k, v in raw.items() if v is not None}
    base = NAMED_DEFAULTS.get(name, {}) if isinstance(name, str) else {}
    merged = {"database_url_env": default_database_url_env(str(name)), **base, **given}
    if isinstance(base.get("watch"), dict) and isinstance(given.get("watch"), dict):
        merged["watch"] = {**base["watch"], **given["watch"]}
    merged[INTERNAL + "name"] = str(name)
    return merged


@dataclass(frozen=True, config=_shape(_optional_in_file))
class Config:
    """`.github/deploybot.yml`, read from the default branch only: a pull request cannot
    change its own gates."""

    environments: Annotated[dict[EnvName, EnvironmentConfig], Field(json_schema_extra={
        "additionalProperties": False, "minProperties": 1})]
    """Environments by name (lower-case). Unset: staging and production as built in."""
    paths: Paths = Field(default_factory=lambda: Paths())
    default_branch: Annotated[str, Text()] = "main"
    allow_forks: Annotated[bool, Flag()] = False
    """Let pull requests from forks be deployed."""
    source: SkipJsonSchema[str] = Field(default="built-in default",
                                        validation_alias=INTERNAL + "source")
    """Where it was read from, for messages."""
    paths_set: SkipJsonSchema[frozenset[str]] = Field(
        default=frozenset(), validation_alias=INTERNAL + "paths_set")
    """The `paths` keys the file set itself; the others follow the pinned commit's layout."""

    @model_validator(mode="before")
    @classmethod
    def _file(cls, data: Any, info: ValidationInfo) -> Any:
        data = _file_values(cls, data, info, keep=("environments",))
        if info.context == FILE_CONTEXT and isinstance(data, dict):
            data.setdefault("environments", {name: {} for name in NAMED_DEFAULTS})
            paths = data.get("paths")
            if isinstance(paths, dict):
                data[INTERNAL + "paths_set"] = frozenset(
                    "tests" if k == "rls_suite" else k for k, v in paths.items()
                    if isinstance(k, str) and v is not None)
        return data

    @field_validator("environments", mode="before")
    @classmethod
    def _environments_in_file(cls, value: Any, info: ValidationInfo) -> Any:
        if info.context != FILE_CONTEXT:
            return value
        if not isinstance(value, dict) or not value:
            raise refuse("expected a mapping of environment names to settings")
        # A bad name is the one message about its environment: its settings are not read.
        return {name: _environment_in_file(name, raw) if _is_name(name)
                else _environment_in_file("unread", {}) for name, raw in value.items()}

    @model_validator(mode="after")
    def _staging_exists(self, info: ValidationInfo) -> Config:
        # A file's whole set of environments; code may build a configuration of one.
        if info.context != FILE_CONTEXT:
            return self
        missing = [env for env in self.environments.values()
                   if env.requires_staging and env.requires_staging not in self.environments]
        if missing:
            raise _refused("Config", [
                (("environments", env.name, "requires_staging"),
                 f"no environment named {env.requires_staging!r}; defined: "
                 f"{', '.join(self.environments)}") for env in missing])
        return self

    def environment(self, name: str) -> EnvironmentConfig | None:
        return self.environments.get(name.lower())


DEFAULT_ACCESS_TOKEN_ENV = "SUPABASE_ACCESS_TOKEN"  # noqa: S105 (a variable's name)


def access_token_env(env: EnvironmentConfig) -> str:
    return env.supabase_access_token_env or DEFAULT_ACCESS_TOKEN_ENV


_CONFIG = TypeAdapter(Config)


def from_file(data: Any) -> Config:
    """A file's parsed YAML as the configuration (ValidationError when it is not one)."""
    return _CONFIG.validate_python(data, context=FILE_CONTEXT, by_name=False)


def default_config() -> Config:
    """What a repository without `.github/deploybot.yml` gets: the runbook's two
    environments, as an empty file would."""
    return from_file({})
