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


def url_for(admin_url: str, *, database: str, user: str, password: str | None = None) -> str:
    """`admin_url` pointed at `database` as `user`, with `password` (never the admin's)."""
    params = conninfo_to_dict(admin_url)
    params.pop("password", None)
    if "host" in params and str(params["host"]).startswith("/"):
        extra = {"password": password} if password else {}
        return make_conninfo("", **{**params, "dbname": database, "user": user, **extra})
    host, port = params.pop("host", ""), params.pop("port", "")
    params.pop("dbname", None)
    params.pop("user", None)
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in sorted(params.items()))
    secret = f":{quote(password, safe='')}" if password else ""
    netloc = f"{quote(user, safe='')}{secret}@{host}{':' + str(port) if port else ''}"
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


# Objects a database made before it had an owner role (older data directories: everything
# the superuser created) pass to the owner, so its migrations may change them. Extension
# members, platform schemas and objects that follow their table (indexes, owned sequences,
# row types) are left as they are.
_ADOPT = """
DO $$
DECLARE
    owner text := {owner};
    platform text[] := ARRAY['pg_catalog', 'information_schema', 'pg_toast', 'auth',
                             'storage', 'extensions'];
    o record;
BEGIN
    FOR o IN
        SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, owner) AS ddl
        FROM pg_namespace n
        WHERE n.nspowner = current_user::regrole AND n.nspname <> ALL(platform)
          AND n.nspname !~ '^pg_'
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                          AND d.objid = n.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('ALTER %s %I.%I OWNER TO %I',
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                           WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                           ELSE 'TABLE' END, n.nspname, c.relname, owner)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relowner = current_user::regrole AND n.nspname <> ALL(platform)
          AND n.nspname !~ '^pg_' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, owner)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proowner = current_user::regrole AND n.nspname <> ALL(platform)
          AND n.nspname !~ '^pg_'
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, owner)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typowner = current_user::regrole AND n.nspname <> ALL(platform)
          AND n.nspname !~ '^pg_' AND t.typtype IN ('e', 'd', 'r', 'c')
          AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE o.ddl;
    END LOOP;
END
$$
"""


def prepare(admin_url: str, database: str, *, shim: bool = True,
            password: str | None = None) -> str:
    """Create (or bring up to date) `database` and its owner role as the admin; apply the
    platform shim when asked; return the URL the environment uses (the owner's, with
    `password` where the server asks for one)."""
    role = owner_role(database)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _create_database(conn, database)
        _create_owner(conn, role)
        if password is not None:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))
        row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                           (database,)).fetchone()
        adopt = row is not None and row[0] != role
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(database), sql.Identifier(role)))
        seal(conn, database)
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    admin_db_url = make_conninfo(admin_url, dbname=database)
    if adopt:
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            conn.execute(sql.SQL(_ADOPT).format(owner=sql.Literal(role)))
    if shim:
        apply_shim(admin_db_url, owner=role)
    return url_for(admin_url, database=database, user=role, password=password)


def drop(admin_url: str, database: str) -> None:
    """Drop `database` and its owner role (tests' clean-up)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
            sql.Identifier(owner_role(database))))
