"""What a pg_dump archive holds, as `pg_restore --list` tells it, and whose schema each
entry belongs to: the project's (restored) or the platform's (left alone)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Schemas that a Supabase project owns (and our platform shim partly creates), never
# dropped or restored: the project's migrations do not own them.
PLATFORM_SCHEMAS: frozenset[str] = frozenset({
    "auth", "storage", "extensions", "graphql", "graphql_public", "realtime", "_realtime",
    "vault", "pgsodium", "pgsodium_masks", "supabase_functions", "net", "cron", "pgbouncer",
    "_analytics", "_supavisor", "pgmq", "pgtle", "supabase_admin",
})
# PostgreSQL's own schemas (and pg_toast*/pg_temp* prefixes).
SYSTEM_SCHEMAS: frozenset[str] = frozenset({"pg_catalog", "information_schema"})
_SYSTEM_PREFIXES = ("pg_toast", "pg_temp")

# Entry types as pg_restore --list prints them (PostgreSQL 15–18); several have spaces, so
# the longest one that matches wins.
_DESCS = sorted((
    "ACCESS METHOD", "ACL", "AGGREGATE", "BLOB", "BLOB METADATA", "BLOBS", "CAST",
    "CHECK CONSTRAINT", "COLLATION", "COMMENT", "CONSTRAINT", "CONVERSION", "DATABASE",
    "DATABASE PROPERTIES", "DEFAULT", "DEFAULT ACL", "DOMAIN", "ENCODING", "EVENT TRIGGER",
    "EXTENSION", "FK CONSTRAINT", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "FOREIGN TABLE",
    "FUNCTION", "INDEX", "INDEX ATTACH", "LARGE OBJECT", "MATERIALIZED VIEW",
    "MATERIALIZED VIEW DATA", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY", "POLICY",
    "PROCEDURAL LANGUAGE", "PROCEDURE", "PUBLICATION", "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA", "ROW SECURITY", "RULE", "SCHEMA", "SEARCHPATH",
    "SECURITY LABEL", "SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "SERVER", "SHELL TYPE",
    "STATISTICS", "STATISTICS DATA", "STDSTRINGS", "SUBSCRIPTION", "SUBSCRIPTION TABLE",
    "TABLE", "TABLE ATTACH", "TABLE DATA", "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "TRANSFORM",
    "TRIGGER", "TYPE", "USER MAPPING", "VIEW",
), key=len, reverse=True)
_TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
ALWAYS = frozenset({"ENCODING", "STDSTRINGS", "SEARCHPATH"})
SCHEMA_ATTACHED = frozenset({"ACL", "COMMENT", "SECURITY LABEL"})
# Platform-schema objects that the cascade may drop and that the dump can put back.
REPLAYABLE = {"TRIGGER": "TRIGGER", "POLICY": "POLICY", "INDEX": "INDEX", "RULE": "RULE",
               "CONSTRAINT": "CONSTRAINT", "FK CONSTRAINT": "CONSTRAINT",
               "CHECK CONSTRAINT": "CONSTRAINT", "EVENT TRIGGER": "EVENT TRIGGER"}


@dataclass(frozen=True)
class TocEntry:
    line: str
    desc: str
    namespace: str | None  # None where pg_restore prints "-"
    tag: str


def parse_toc(listing: str) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for line in listing.splitlines():
        m = _TOC_LINE.match(line)
        if not m:
            continue
        rest = m.group(4)
        desc = next((d for d in _DESCS if rest.startswith(d + " ")), rest.split(" ", 1)[0])
        after = rest[len(desc) + 1:]
        namespace, _, tag_owner = after.partition(" ")
        tag = tag_owner.rsplit(" ", 1)[0] if " " in tag_owner else tag_owner
        entries.append(TocEntry(line, desc, None if namespace == "-" else namespace, tag))
    return entries


def is_project_schema(name: str) -> bool:
    """A schema the project's migrations own (restored), as opposed to PostgreSQL's or the
    platform's (left alone)."""
    return not (name in SYSTEM_SCHEMAS or name in PLATFORM_SCHEMAS
                or name.startswith(_SYSTEM_PREFIXES))

def unquote_ident(name: str) -> str:
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name
