"""Resolve a configured environment into drivers for one deployment.

Secrets come from the environment variables the configuration names. On the embedded
default (no DATABASE_URL for the bot itself) an environment whose variable is unset gets a
database of its own name in the embedded cluster, owned by a least-privilege role of its own
and carrying the platform shim; anywhere else
an unset variable is an error — a production deploy must never fall back to a local database.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from service import embedded
from service.config.model import Config, EnvironmentConfig
from service.settings import Settings
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase, attempts_within
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases
from workers.runbook.context import Environment


class EnvironmentError_(ValueError):
    """The environment cannot be used as configured; the message says how to fix it."""


@dataclass(frozen=True)
class Resolved:
    config: EnvironmentConfig
    database_url: str
    anon_key: str


def unknown_environment_message(config: Config, name: str) -> str:
    return (f"unknown environment {name!r}; this repository has: "
            f"{', '.join(sorted(config.environments))} (configured in {config.source})")


def _embedded_anon_key(settings: Settings, name: str) -> str:
    """A per-environment key for the embedded function host, made once and kept."""
    path = settings.data_dir / "keys" / f"{name}.anon"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def resolve_secrets(config: Config, name: str, settings: Settings,
                    env: dict[str, str] | None = None) -> Resolved:
    e = os.environ if env is None else env
    cfg = config.environment(name)
    if cfg is None:
        raise EnvironmentError_(unknown_environment_message(config, name))
    url = e.get(cfg.database_url_env)
    if not url:
        if not settings.embedded:
            raise EnvironmentError_(
                f"{cfg.database_url_env} is not set: it must hold the database URL of the "
                f"{cfg.name!r} environment (named by environments.{cfg.name}.database_url_env "
                f"in {config.source})")
        # Its own database and least-privilege owner role, prepared by the admin.
        url = embedded.ensure_environment_database(embedded.start(settings.data_dir), cfg.name)
    key = e.get(cfg.anon_key_env) if cfg.anon_key_env else None
    if not key:
        if cfg.anon_key_env and not settings.embedded and cfg.functions_url:
            raise EnvironmentError_(
                f"{cfg.anon_key_env} is not set: the smoke tests call the functions of "
                f"{cfg.name!r} with it (environments.{cfg.name}.anon_key_env)")
        key = _embedded_anon_key(settings, cfg.name)
    return Resolved(cfg, url, key)


def resolve(config: Config, name: str, settings: Settings) -> Environment:
    r = resolve_secrets(config, name, settings)
    host: FunctionHostProcess | None = None

    async def functions_url() -> str:
        nonlocal host
        if r.config.functions_url:
            return r.config.functions_url
        if host is None:
            host = FunctionHostProcess(database_url=r.database_url, anon_key=r.anon_key,
                                       data_dir=settings.data_dir)
        return await host.ensure_started()  # restarts a host that died mid-deployment

    database = PostgresDatabase(r.database_url,
                                connect_retries=attempts_within(r.config.reconnect_within),
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
        functions=PostgresFunctionReleases(r.database_url),
        anon_key=r.anon_key,
        functions_url=functions_url,
        close=close,
    )
