"""An environment's database in a cluster the bot administers (the embedded default, tests).

Each environment gets a database of its own, owned by a role of its own that is not a
superuser: what Supabase's `postgres` role is. It owns its database (so it may create
schemas and trusted extensions such as pgcrypto), may create roles where that is safe, and
is the only role besides the admin that may connect to it. `dblink`, `COPY … PROGRAM`,
server files and untrusted languages need a superuser or a predefined role it lacks.

What the owner cannot do itself — the platform shim's roles and schemas — the admin does
here, when the database is prepared; never pull-request SQL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.embedded.shim import apply_shim

OWNER_SUFFIX = "_owner"
# Before PostgreSQL 16 a CREATEROLE role may grant itself any non-superuser role, the
# predefined pg_execute_server_program (COPY … PROGRAM) and pg_read_server_files included:
# the owner gets CREATEROLE only from 16 on, where it administers just the roles it creates.
SAFE_CREATEROLE_SINCE = 160000

Conn = psycopg.Connection[Any]


def owner_role(database: str) -> str:
    """The owner role's name for `database` (PostgreSQL names are at most 63 bytes)."""
    return database[: 63 - len(OWNER_SUFFIX)] + OWNER_SUFFIX


def url_for(admin_url: str, *, database: str, user: str) -> str:
    """`admin_url` pointed at `database` as `user` (no password: the admin's is not theirs)."""
    params = conninfo_to_dict(admin_url)
    params.pop("password", None)
    if "host" in params and str(params["host"]).startswith("/"):
        return make_conninfo("", **{**params, "dbname": database, "user": user})
    host, port = params.pop("host", ""), params.pop("port", "")
    params.pop("dbname", None)
    params.pop("user", None)
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in sorted(params.items()))
    netloc = f"{quote(user, safe='')}@{host}{':' + str(port) if port else ''}"
    return f"postgresql://{netloc}/{quote(database, safe='')}{'?' + query if query else ''}"


def seal(conn: Conn, database: str) -> None:
    """Only the database's owner (and superusers) may connect to it: PUBLIC's default
    CONNECT and TEMPORARY go. Run on the ledger's database and every environment's."""
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
        sql.Identifier(database)))


def _create_database(conn: Conn, database: str) -> None:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
        return
    try:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    except psycopg.errors.DuplicateDatabase:
        pass  # another process won the race


def _create_owner(conn: Conn, role: str) -> None:
    createrole = conn.info.server_version >= SAFE_CREATEROLE_SINCE
    attributes = sql.SQL(
        "LOGIN NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT {}").format(
        sql.SQL("CREATEROLE" if createrole else "NOCREATEROLE"))
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    try:
        conn.execute(sql.SQL("{} ROLE {} {}").format(
            sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(role), attributes))
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        pass  # a concurrent preparation of the same database created it


def prepare(admin_url: str, database: str, *, shim: bool = True) -> str:
    """Create (or bring up to date) `database` and its owner role as the admin; apply the
    platform shim when asked; return the URL the environment uses (the owner's)."""
    role = owner_role(database)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _create_database(conn, database)
        _create_owner(conn, role)
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(database), sql.Identifier(role)))
        seal(conn, database)
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    if shim:
        apply_shim(make_conninfo(admin_url, dbname=database), owner=role)
    return url_for(admin_url, database=database, user=role)


def drop(admin_url: str, database: str) -> None:
    """Drop `database` and its owner role (tests' clean-up)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
            sql.Identifier(owner_role(database))))
