"""Resolve a configured environment into drivers for one deployment.

Secrets come from the environment variables the configuration names. On the embedded
default (no DATABASE_URL for the bot itself) an environment whose variable is unset gets a
database of its own name in the embedded cluster, owned by a least-privilege role of its own
and carrying the platform shim; anywhere else
an unset variable is an error — a production deploy must never fall back to a local database.
An environment with a `supabase_project_ref` is a hosted Supabase project: its functions go
through the Management API and answer at the project's functions URL.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from service import embedded
from service.config.model import Config, EnvironmentConfig, access_token_env
from service.settings import Settings
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase, attempts_within
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases
from workers.drivers.interfaces import FunctionReleases
from workers.drivers.supabase_api import ManagementApi, functions_url_for
from workers.drivers.supabase_functions import SupabaseFunctionReleases
from workers.functions_host.auth import is_signed_by, sign_anon_key
from workers.runbook.context import Environment


class EnvironmentError_(ValueError):
    """The environment cannot be used as configured; the message says how to fix it."""


@dataclass(frozen=True)
class Resolved:
    config: EnvironmentConfig
    database_url: str
    anon_key: str
    # Signs the JWTs the function host accepts (the anon key is one of them).
    jwt_secret: str = field(repr=False, default="")
    # What the environment's functions get as SUPABASE_SERVICE_ROLE_KEY, as on Supabase: a
    # service_role JWT signed with the same secret.
    service_key: str = field(repr=False, default="")


def unknown_environment_message(config: Config, name: str) -> str:
    return (f"unknown environment {name!r}; this repository has: "
            f"{', '.join(sorted(config.environments))} (configured in {config.source})")


def _key_file(settings: Settings, name: str) -> Path:
    path = settings.data_dir / "keys" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write_secret(path: Path, value: str, *, replace: bool = False) -> str:
    """Write `value` (0600) unless the file exists; what the file holds afterwards."""
    if replace:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        tmp.replace(path)
        return value
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made before, or by another process just now
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _generated_jwt_secret(settings: Settings, name: str) -> str:
    """A per-environment JWT secret for the function host, made once and kept."""
    return _write_secret(_key_file(settings, f"{name}.jwt-secret"), secrets.token_urlsafe(48))


def _generated_anon_key(settings: Settings, name: str, jwt_secret: str,
                        role: str = "anon") -> str:
    """An anon key (a JWT signed with the environment's secret), made once and kept;
    made again when the secret changed. role="service_role": the service role key."""
    path = _key_file(settings, f"{name}.{'anon' if role == 'anon' else 'service-role'}-jwt")
    key = _write_secret(path, sign_anon_key(jwt_secret, name, role=role))
    if not is_signed_by(key, jwt_secret):
        key = _write_secret(path, sign_anon_key(jwt_secret, name, role=role), replace=True)
    return key


def resolve_secrets(config: Config, name: str, settings: Settings,
                    env: dict[str, str] | None = None) -> Resolved:
    e = os.environ if env is None else env
    cfg = config.environment(name)
    if cfg is None:
        raise EnvironmentError_(unknown_environment_message(config, name))
    url = e.get(cfg.database_url_env)
    if not url:
        if cfg.supabase_project_ref:  # never the embedded database for a hosted project
            raise EnvironmentError_(
                f"{cfg.database_url_env} is not set: it must hold the connection string of "
                f"the Supabase project {cfg.supabase_project_ref} ({cfg.name!r}; dashboard → "
                "Connect), named by environments."
                f"{cfg.name}.database_url_env in {config.source}")
        if not settings.embedded:
            raise EnvironmentError_(
                f"{cfg.database_url_env} is not set: it must hold the database URL of the "
                f"{cfg.name!r} environment (named by environments.{cfg.name}.database_url_env "
                f"in {config.source})")
        # Its own database and least-privilege owner role, prepared by the admin.
        url = embedded.ensure_environment_database(embedded.start(settings.data_dir), cfg.name)
    jwt_secret = e.get(cfg.jwt_secret_env) if cfg.jwt_secret_env else None
    if not jwt_secret:
        if cfg.jwt_secret_env and not settings.embedded and not cfg.functions_url:
            raise EnvironmentError_(
                f"{cfg.jwt_secret_env} is not set: the function host of {cfg.name!r} checks "
                f"callers' JWTs with it (environments.{cfg.name}.jwt_secret_env)")
        jwt_secret = _generated_jwt_secret(settings, cfg.name)
    key = e.get(cfg.anon_key_env) if cfg.anon_key_env else None
    if not key:
        if cfg.anon_key_env and (cfg.supabase_project_ref or (
                not settings.embedded and cfg.functions_url)):
            raise EnvironmentError_(
                f"{cfg.anon_key_env} is not set: the smoke tests call the functions of "
                f"{cfg.name!r} with it (environments.{cfg.name}.anon_key_env)")
        key = _generated_anon_key(settings, cfg.name, jwt_secret)
    return Resolved(cfg, url, key, jwt_secret,
                    _generated_anon_key(settings, cfg.name, jwt_secret, role="service_role"))


def management_api(cfg: EnvironmentConfig, settings: Settings,
                   env: dict[str, str] | None = None) -> ManagementApi:
    """The Management API client of a hosted Supabase environment (token from the variable
    the configuration names)."""
    assert cfg.supabase_project_ref is not None
    e = os.environ if env is None else env
    token_env = access_token_env(cfg)
    token = e.get(token_env, "")
    if not token:
        raise EnvironmentError_(
            f"{token_env} is not set: {cfg.name!r} is the hosted Supabase project "
            f"{cfg.supabase_project_ref} and its functions are deployed with a personal "
            "access token (https://supabase.com/dashboard/account/tokens) held in that "
            f"variable (environments.{cfg.name}.supabase_access_token_env)")
    return ManagementApi(ref=cfg.supabase_project_ref, token=token, token_env=token_env,
                         base_url=settings.supabase_api_url, environment=cfg.name)


def hosted_functions_url(cfg: EnvironmentConfig) -> str | None:
    """Where a hosted project's functions answer: the configured URL, else Supabase's."""
    if cfg.functions_url:
        return cfg.functions_url
    return functions_url_for(cfg.supabase_project_ref) if cfg.supabase_project_ref else None


def resolve(config: Config, name: str, settings: Settings) -> Environment:
    r = resolve_secrets(config, name, settings)
    host: FunctionHostProcess | None = None
    functions: FunctionReleases = PostgresFunctionReleases(r.database_url)
    if r.config.supabase_project_ref:
        functions = SupabaseFunctionReleases(management_api(r.config, settings),
                                             r.database_url)

    async def functions_url() -> str:
        nonlocal host
        if (hosted := hosted_functions_url(r.config)) is not None:
            return hosted
        if host is None:
            host = FunctionHostProcess(database_url=r.database_url, anon_key=r.anon_key,
                                       service_key=r.service_key, jwt_secret=r.jwt_secret,
                                       data_dir=settings.data_dir)
        return await host.ensure_started()  # restarts a host that died mid-deployment

    database = PostgresDatabase(r.database_url,
                                connect_retries=attempts_within(r.config.reconnect_within),
                                connect_within=r.config.reconnect_within,
                                allow_superuser=settings.allow_superuser_databases)

    async def close() -> None:
        if host is not None:
            await host.stop()
        await database.aclose()

    return Environment(
        name=r.config.name,
        config=r.config,
        database=database,
        backups=LocalBackupStore(Path(settings.data_dir) / "backups" / r.config.name),
        functions=functions,
        anon_key=r.anon_key,
        functions_url=functions_url,
        close=close,
    )
