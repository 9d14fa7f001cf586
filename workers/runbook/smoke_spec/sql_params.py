"""`:name` parameters of the smoke file's SQL, bound (never pasted) for psycopg."""

from __future__ import annotations

from workers.repository.sql_split import spans
from workers.runbook.smoke_spec.model import NAME


def sql_parameters(query: str) -> list[str]:
    """The `:name` parameters of a query, in order of first use."""
    names: list[str] = []
    for name in _scan_sql(query, None):
        if name not in names:
            names.append(name)
    return names


def bind_sql(query: str) -> tuple[str, list[str]]:
    """The query in psycopg's `%(name)s` style, and its parameter names. Without parameters
    the query is returned unchanged (then it is sent without parameter processing)."""
    out: list[str] = []
    names = list(_scan_sql(query, out))
    if not names:
        return query, []
    return "".join(out), sorted(set(names))


def _scan_sql(query: str, out: list[str] | None) -> list[str]:
    """Find `:name` in the query's code (not in strings, quoted identifiers, dollar quotes or
    comments: sql_split.spans decides, as for migrations), `::` casts left alone; when `out`
    is given, fill it with the query rewritten for psycopg (`%` doubled, `:name` as
    `%(name)s`)."""
    names: list[str] = []
    for start, end, is_code in spans(query):
        if not is_code:
            if out is not None:
                out.append(query[start:end].replace("%", "%%"))
            continue
        i = start
        while i < end:
            c = query[i]
            if c == ":" and query.startswith("::", i, end):
                text, i = "::", i + 2
            elif c == ":" and (m := NAME.match(query, i + 1, end)):
                names.append(m.group(0))
                text, i = f"%({m.group(0)})s", m.end()
            else:
                text, i = ("%%" if c == "%" else c), i + 1
            if out is not None:
                out.append(text)
    return names
