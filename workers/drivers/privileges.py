"""An environment's database is reached with a least-privilege role, never a superuser.

Pull-request migrations run as whatever role the environment's URL names: as a superuser
they could read server files, run programs (`COPY … FROM PROGRAM`), load untrusted
languages and reach every other database on the server — the ledger included. The check
runs on every new connection to an environment database; an operator who accepts the risk
opts in with a server setting (the environment variable below), never from a repository,
and every such connection is logged as a warning.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from workers.drivers.interfaces import DatabaseUnavailable

log = logging.getLogger(__name__)

ALLOW_SUPERUSER_ENV = "DEPLOYBOT_ALLOW_SUPERUSER_DATABASES"


class SuperuserRefused(DatabaseUnavailable):
    """The environment's URL connects as a superuser and the operator did not opt in."""


def refusal_message(user: str, database: str) -> str:
    role = f"deploy_{database}" if database.isidentifier() else "deploy_env"
    return (
        f"refused: the environment's database URL connects as {user!r}, a superuser — a "
        f"pull request's migration could run programs on the database server and reach "
        f"every other database on it. Give the environment a role that is not a superuser "
        f"and owns its database, then put that role in the environment's database URL, "
        f"e.g. as an admin: CREATE ROLE {role} LOGIN PASSWORD '<new password>'; "
        f"ALTER DATABASE {database} OWNER TO {role}; "
        f"REVOKE ALL ON DATABASE {database} FROM PUBLIC; "
        f"(on PostgreSQL 16+ add CREATEROLE to the role if migrations create roles; on "
        f"Supabase use the project's `postgres` role, which is not a superuser). "
        f"To accept the risk instead, the operator sets {ALLOW_SUPERUSER_ENV}=1 in the "
        f"bot's environment.")


def check_connection(conn: psycopg.AsyncConnection[Any], *, allow_superuser: bool) -> None:
    """Raise SuperuserRefused when `conn` is a superuser's (unless allowed: then warn).
    The server reports `is_superuser` at connection start: no query needed."""
    if conn.info.parameter_status("is_superuser") != "on":
        return
    user = conn.info.user
    database = conn.info.dbname
    if allow_superuser:
        log.warning("environment database %r is reached as superuser %r: allowed by %s=1; "
                    "pull-request migrations run with a superuser's power", database, user,
                    ALLOW_SUPERUSER_ENV)
        return
    raise SuperuserRefused(refusal_message(user, database))
