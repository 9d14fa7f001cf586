"""Resolve a configured environment into drivers for one deployment.

Secrets come from the environment variables the configuration names. On the embedded
default (no DATABASE_URL for the bot itself) an environment whose variable is unset gets a
database of its own name in the embedded cluster, carrying the platform shim; anywhere else
an unset variable is an error — a production deploy must never fall back to a local database.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from service import embedded
from service.config.model import Config, EnvironmentConfig
from service.settings import Settings
from workers.drivers.backups import LocalBackupStore
from workers.drivers.database import PostgresDatabase, attempts_within
from workers.drivers.function_host_process import FunctionHostProcess
from workers.drivers.functions import PostgresFunctionReleases
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


def _generated_anon_key(settings: Settings, name: str, jwt_secret: str) -> str:
    """An anon key (a JWT signed with the environment's secret), made once and kept;
    made again when the secret changed."""
    path = _key_file(settings, f"{name}.anon-jwt")
    key = _write_secret(path, sign_anon_key(jwt_secret, name))
    if not is_signed_by(key, jwt_secret):
        key = _write_secret(path, sign_anon_key(jwt_secret, name), replace=True)
    return key


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
        services = embedded.start(settings.data_dir)
        url = embedded.ensure_database(services.postgres.url(), services.database_url(cfg.name),
                                       cfg.name, shim=True)
    jwt_secret = e.get(cfg.jwt_secret_env) if cfg.jwt_secret_env else None
    if not jwt_secret:
        if cfg.jwt_secret_env and not settings.embedded and not cfg.functions_url:
            raise EnvironmentError_(
                f"{cfg.jwt_secret_env} is not set: the function host of {cfg.name!r} checks "
                f"callers' JWTs with it (environments.{cfg.name}.jwt_secret_env)")
        jwt_secret = _generated_jwt_secret(settings, cfg.name)
    key = e.get(cfg.anon_key_env) if cfg.anon_key_env else None
    if not key:
        if cfg.anon_key_env and not settings.embedded and cfg.functions_url:
            raise EnvironmentError_(
                f"{cfg.anon_key_env} is not set: the smoke tests call the functions of "
                f"{cfg.name!r} with it (environments.{cfg.name}.anon_key_env)")
        key = _generated_anon_key(settings, cfg.name, jwt_secret)
    return Resolved(cfg, url, key, jwt_secret)


def resolve(config: Config, name: str, settings: Settings) -> Environment:
    r = resolve_secrets(config, name, settings)
    host: FunctionHostProcess | None = None

    async def functions_url() -> str:
        nonlocal host
        if r.config.functions_url:
            return r.config.functions_url
        if host is None:
            host = FunctionHostProcess(database_url=r.database_url, anon_key=r.anon_key,
                                       jwt_secret=r.jwt_secret, data_dir=settings.data_dir)
        return await host.ensure_started()  # restarts a host that died mid-deployment

    database = PostgresDatabase(r.database_url,
                                connect_retries=attempts_within(r.config.reconnect_within))

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
