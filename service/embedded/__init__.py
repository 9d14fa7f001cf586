"""The embedded default: PostgreSQL and Redis servers of our own under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from service.embedded import environment_database
from service.embedded.postgres import EmbeddedError, EmbeddedPostgres
from service.embedded.redis import EmbeddedRedis
from service.embedded.shim import SHIM_PATH, apply_shim

__all__ = ["SHIM_PATH", "EmbeddedError", "Services", "apply_shim", "ensure_database",
           "ensure_environment_database", "start"]


@dataclass(frozen=True)
class Services:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis

    def database_url(self, name: str) -> str:
        return self.postgres.url(name)

    @property
    def redis_url(self) -> str:
        return self.redis.url()


def start(data_dir: Path) -> Services:
    """Start (or reuse) both embedded servers."""
    pg, rd = EmbeddedPostgres(data_dir), EmbeddedRedis(data_dir)
    pg.ensure_running()
    rd.ensure_running()
    return Services(pg, rd)


def ensure_database(admin_url: str, url_for: str, name: str) -> str:
    """Create the bot's own database `name` if missing, reachable by the admin alone (no
    environment's role may connect to the ledger); return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process won the race
        environment_database.seal(conn, name)
    return url_for


def ensure_environment_database(services: Services, name: str) -> str:
    """The environment `name`'s database, prepared with its owner role and the platform
    shim; returns the owner's URL (never a superuser's)."""
    return services.postgres.prepare_environment(name)
