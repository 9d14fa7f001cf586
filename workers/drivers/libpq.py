"""libpq's side of a connection: its environment variables, and what its errors mean.

PostgreSQL's client programs (psql, pg_dump, pg_restore) get the connection in PG*
variables, never on their command line where `ps` shows the password."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from psycopg.conninfo import conninfo_to_dict, make_conninfo

# libpq connection keywords and the environment variables that carry them.
ENV_OF_KEYWORD: dict[str, str] = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
    "options": "PGOPTIONS", "application_name": "PGAPPNAME", "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI",
    "requiressl": "PGREQUIRESSL", "sslcompression": "PGSSLCOMPRESSION",
    "sslcertmode": "PGSSLCERTMODE", "sslnegotiation": "PGSSLNEGOTIATION",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION", "requirepeer": "PGREQUIREPEER",
    "connect_timeout": "PGCONNECT_TIMEOUT", "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "service": "PGSERVICE",
    "channel_binding": "PGCHANNELBINDING", "require_auth": "PGREQUIREAUTH",
    "load_balance_hosts": "PGLOADBALANCEHOSTS", "min_protocol_version": "PGMINPROTOCOLVERSION",
    "max_protocol_version": "PGMAXPROTOCOLVERSION",
}
_KEYWORD_OF_ENV = {v: k for k, v in ENV_OF_KEYWORD.items()}

# What libpq says when the server cannot be reached at all (as opposed to refusing us).
_UNREACHABLE = re.compile(
    r"Connection refused|could not translate host name|timeout expired|No route to host|"
    r"Network is unreachable|server closed the connection unexpectedly|Is the server running|"
    r"the database system is (?:starting up|shutting down|in recovery mode)|"
    r"could not connect to server",
    re.IGNORECASE,
)


def libpq_env_from_url(url: str) -> dict[str, str]:
    """PG* environment variables for a connection URL or conninfo string (password
    included), for tools that must not get the password on their command line."""
    params = conninfo_to_dict(url)
    return {ENV_OF_KEYWORD[k]: str(v) for k, v in params.items()
            if k in ENV_OF_KEYWORD and v is not None}


def conninfo_from_libpq_env(env: Mapping[str, str]) -> str:
    """A conninfo string for psycopg from PG* variables (the inverse of libpq_env_from_url);
    it is handed to libpq in-process, never to a command line."""
    params = {_KEYWORD_OF_ENV[k]: v for k, v in env.items() if k in _KEYWORD_OF_ENV}
    return make_conninfo("", **params)


def tool_env(libpq_env: Mapping[str, str]) -> dict[str, str]:
    """The environment for psql/pg_dump/pg_restore: ours without stray PG* variables (a
    PGSERVICE or PGOPTIONS of the worker must not redirect the tool), plus the connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_env)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def is_unreachable(message: str) -> bool:
    """Whether libpq's message says the server could not be reached at all."""
    return bool(_UNREACHABLE.search(message))
