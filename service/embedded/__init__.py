"""The embedded default: PostgreSQL and Redis servers of our own under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from service.embedded.postgres import EmbeddedError, EmbeddedPostgres
from service.embedded.redis import EmbeddedRedis

SHIM_PATH = Path(__file__).with_name("platform_shim.sql")

__all__ = ["SHIM_PATH", "EmbeddedError", "Services", "apply_shim", "ensure_database", "start"]


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


def ensure_database(admin_url: str, url_for: str, name: str, *, shim: bool) -> str:
    """Create database `name` if missing (with the platform shim if asked); return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process won the race
    if shim:
        apply_shim(url_for)
    return url_for


def apply_shim(url: str) -> None:
    """Make a plain PostgreSQL database look like a Supabase project (idempotent)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SHIM_PATH.read_text())
