"""Checking a smoke file's structure, every problem with its line and the fix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from workers.runbook.smoke_spec.model import (
    GENERATORS,
    HTTP_METHODS,
    JSON_TYPES,
    MAX_TIMEOUT_S,
    MISSING,
    NAME,
    ROLE,
    Check,
    Expectation,
    HttpCall,
    Kind,
    Problem,
    RlsQuery,
    SmokeSpec,
    SqlQuery,
)
from workers.runbook.smoke_spec.sql_params import sql_parameters
from workers.runbook.smoke_spec.templates import template_names
from workers.runbook.smoke_spec.yaml_lines import LinedList, LinedMap


class Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.defined: list[str] = []  # names captured/generated so far, in order

    def problem(self, key: str, message: str, line: int) -> None:
        self.problems.append(Problem(key, message, line))

    @staticmethod
    def line_of(container: Any, key: Any = None) -> int:
        if isinstance(container, LinedMap) and key is not None and key in container.key_lines:
            return container.key_lines[key]
        if isinstance(container, LinedList) and isinstance(key, int) and key < len(
                container.item_lines):
            return container.item_lines[key]
        return int(getattr(container, "line", 0))

    def keys(self, data: LinedMap, key: str, allowed: Sequence[str], what: str) -> None:
        for k in data:
            if k not in allowed:
                self.problem(f"{key}.{k}" if key else str(k),
                             f"unknown key in {what}; allowed: {', '.join(allowed)}",
                             self.line_of(data, k))

    def mapping(self, value: Any, key: str, line: int, what: str) -> LinedMap | None:
        if isinstance(value, LinedMap):
            return value
        self.problem(key, f"must be a mapping ({what}), not {_yaml_type(value)}", line)
        return None

    def string(self, data: LinedMap, name: str, key: str, *, required: bool,
               what: str) -> str | None:
        if name not in data:
            if required:
                self.problem(f"{key}.{name}", f"is required: {what}", self.line_of(data))
            return None
        value = data[name]
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{key}.{name}", f"must be a non-empty string ({what}), not "
                         f"{_yaml_type(value)}", self.line_of(data, name))
            return None
        return value

    def uses(self, names: Sequence[str], key: str, line: int,
             extra: Sequence[str] = ()) -> None:
        known = [*self.defined, *extra]
        for name in names:
            if name not in known:
                have = ", ".join(known) or "none yet"
                self.problem(key, f"uses {{{name}}} / :{name}, which no earlier check "
                             f"captures or generates (available: {have})", line)

    # -- the file

    def spec(self, data: Any, path: str) -> SmokeSpec:
        if not isinstance(data, LinedMap):
            self.problem("(file)", "must be a mapping with a `checks` list, not "
                         f"{_yaml_type(data)}", 1)
            return SmokeSpec(path, ())
        self.keys(data, "", ("version", "checks", "cleanup"), "the smoke file")
        if "version" in data and data["version"] != 1:
            self.problem("version", f"must be 1 (the only format there is), not "
                         f"{data['version']!r}", self.line_of(data, "version"))
        checks: list[Check] = []
        raw = data.get("checks")
        if not isinstance(raw, LinedList) or not raw:
            self.problem("checks", "is required: a non-empty list of checks (each with name, "
                         "one of http/sql/rls, and expect)", self.line_of(data, "checks"))
        else:
            names: set[str] = set()
            for index, item in enumerate(raw):
                check = self.check(item, f"checks[{index}]", self.line_of(raw, index))
                if check is None:
                    continue
                if check.name in names:
                    self.problem(f"checks[{index}].name", f"duplicate check name "
                                 f"{check.name!r}; names must be unique", check.line)
                names.add(check.name)
                checks.append(check)
        cleanup: list[str] = []
        raw_cleanup = data.get("cleanup", [])
        if isinstance(raw_cleanup, str):
            raw_cleanup = [raw_cleanup]
        if not isinstance(raw_cleanup, list):
            self.problem("cleanup", f"must be a list of SQL statements, not "
                         f"{_yaml_type(raw_cleanup)}", self.line_of(data, "cleanup"))
        else:
            for index, statement in enumerate(raw_cleanup):
                line = self.line_of(raw_cleanup, index) or self.line_of(data, "cleanup")
                if not isinstance(statement, str) or not statement.strip():
                    self.problem(f"cleanup[{index}]", "must be an SQL statement (a string)",
                                 line)
                    continue
                self.uses(sql_parameters(statement), f"cleanup[{index}]", line)
                cleanup.append(statement)
        return SmokeSpec(path, tuple(checks), tuple(cleanup))

    # -- one check

    def check(self, item: Any, key: str, line: int) -> Check | None:
        data = self.mapping(item, key, line, "a check: name, http/sql/rls, expect")
        if data is None:
            return None
        line = data.line or line
        self.keys(data, key, ("name", "http", "sql", "rls", "expect", "capture", "generate"),
                  "a check")
        name = self.string(data, "name", key, required=True, what="what the check verifies")
        kinds = [k for k in ("http", "sql", "rls") if k in data]
        if len(kinds) != 1:
            self.problem(key, "needs exactly one of http, sql, rls"
                         + (f" (has {', '.join(kinds)})" if kinds else ""), line)
            # Its names still count, so later checks don't report them as undefined too.
            for part in ("generate", "capture"):
                if isinstance(data.get(part), dict):
                    self.defined += [str(k) for k in data[part]]
            return None
        kind: Kind = kinds[0]  # type: ignore[assignment]
        generate = self.generate(data, key)
        local = list(generate)
        http = sql_query = rls = None
        if kind == "http":
            http = self.http(data["http"], f"{key}.http", self.line_of(data, "http"), local)
        elif kind == "sql":
            value = data["sql"]
            if not isinstance(value, str) or not value.strip():
                self.problem(f"{key}.sql", "must be the SQL query to run (a string)",
                             self.line_of(data, "sql"))
            else:
                self.uses(sql_parameters(value), f"{key}.sql", self.line_of(data, "sql"), local)
                sql_query = SqlQuery(value)
        else:
            rls = self.rls(data["rls"], f"{key}.rls", self.line_of(data, "rls"), local)
        expect = self.expect(data, key, kind, local)
        capture = self.capture(data, key, kind)
        self.defined += [*generate, *capture]
        if name is None or expect is None or (http or sql_query or rls) is None:
            return None
        return Check(name=name, kind=kind, expect=expect, line=line, http=http, sql=sql_query,
                     rls=rls, capture=capture, generate=generate)

    def generate(self, data: LinedMap, key: str) -> dict[str, str]:
        if "generate" not in data:
            return {}
        raw = self.mapping(data["generate"], f"{key}.generate", self.line_of(data, "generate"),
                           "name: uuid")
        out: dict[str, str] = {}
        for name, kind in (raw or {}).items():
            line = self.line_of(raw, name)
            if not isinstance(name, str) or not NAME.fullmatch(name):
                self.problem(f"{key}.generate.{name}", "names are letters, digits and _ "
                             "(not starting with a digit)", line)
            elif name in self.defined:
                self.problem(f"{key}.generate.{name}", "is already captured or generated by "
                             "an earlier check; pick another name", line)
            elif kind not in GENERATORS:
                self.problem(f"{key}.generate.{name}", f"unknown generator {kind!r}; allowed: "
                             f"{', '.join(GENERATORS)}", line)
            else:
                out[name] = str(kind)
        return out

    def http(self, value: Any, key: str, line: int, local: list[str]) -> HttpCall | None:
        data = self.mapping(value, key, line, "method, path, json/body, headers, auth, timeout")
        if data is None:
            return None
        self.keys(data, key, ("method", "path", "json", "body", "headers", "auth", "timeout"),
                  "an http call")
        ok = True
        method = data.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            self.problem(f"{key}.method", f"unknown method {method!r}; allowed: "
                         f"{', '.join(HTTP_METHODS)}", self.line_of(data, "method"))
            ok = False
        path = self.string(data, "path", key, required=True,
                           what="the URL path on the function host, e.g. /functions/v1/<slug>")
        if path is not None and not path.startswith("/"):
            self.problem(f"{key}.path", "must start with / (it is joined to the environment's "
                         "functions URL)", self.line_of(data, "path"))
            ok = False
        headers: dict[str, str] = {}
        if "headers" in data:
            raw = self.mapping(data["headers"], f"{key}.headers", self.line_of(data, "headers"),
                               "header: value")
            for name, val in (raw or {}).items():
                hline = self.line_of(raw, name)
                if not isinstance(name, str) or not isinstance(val, str | int | float):
                    self.problem(f"{key}.headers.{name}", "header names and values are strings",
                                 hline)
                elif name.lower() == "authorization":
                    self.problem(f"{key}.headers.{name}", "is added by the bot (the "
                                 "environment's anon key); set auth: false to send none", hline)
                else:
                    headers[name] = str(val)
            ok = ok and raw is not None
        if "json" in data and "body" in data:
            self.problem(key, "has both json and body; send one", line)
            ok = False
        body = data.get("body")
        if body is not None and not isinstance(body, str):
            self.problem(f"{key}.body", "must be a string (use json: for a JSON body)",
                         self.line_of(data, "body"))
            ok = False
        auth = data.get("auth", True)
        if not isinstance(auth, bool):
            self.problem(f"{key}.auth", "must be true or false", self.line_of(data, "auth"))
            ok = False
        timeout = data.get("timeout", 30.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
                0 < timeout <= MAX_TIMEOUT_S):
            self.problem(f"{key}.timeout", f"must be a number of seconds in (0, "
                         f"{MAX_TIMEOUT_S:.0f}]", self.line_of(data, "timeout"))
            ok = False
        self.uses(template_names([path, headers, data.get("json"), body]), key, line, local)
        if not ok or path is None:
            return None
        return HttpCall(method=str(method).upper(), path=path, headers=headers,
                        json=data.get("json", MISSING), body=body, auth=bool(auth),
                        timeout_s=float(timeout))

    def rls(self, value: Any, key: str, line: int, local: list[str]) -> RlsQuery | None:
        data = self.mapping(value, key, line, "as, claims, setup, sql")
        if data is None:
            return None
        self.keys(data, key, ("as", "claims", "setup", "sql"), "an rls check")
        role = self.string(data, "as", key, required=True,
                           what="the role to query as, e.g. authenticated or anon")
        if role is not None and not ROLE.fullmatch(role):
            self.problem(f"{key}.as", "must be a plain role name (lowercase letters, digits, _)",
                         self.line_of(data, "as"))
            role = None
        claims: dict[str, Any] = {}
        if "claims" in data:
            raw = self.mapping(data["claims"], f"{key}.claims", self.line_of(data, "claims"),
                               "the JWT claims, e.g. sub: \"{user}\"")
            claims = dict(raw or {})
            self.uses(template_names(claims), f"{key}.claims", self.line_of(data, "claims"),
                      local)
        setup_raw = data.get("setup", [])
        if isinstance(setup_raw, str):
            setup_raw = [setup_raw]
        setup: list[str] = []
        if not isinstance(setup_raw, list) or not all(
                isinstance(s, str) and s.strip() for s in setup_raw):
            self.problem(f"{key}.setup", "must be an SQL statement or a list of them",
                         self.line_of(data, "setup"))
        else:
            for index, statement in enumerate(setup_raw):
                self.uses(sql_parameters(statement), f"{key}.setup[{index}]",
                          self.line_of(setup_raw, index) or self.line_of(data, "setup"), local)
                setup.append(statement)
        query = self.string(data, "sql", key, required=True,
                            what="the query to run as that role")
        if query is not None:
            self.uses(sql_parameters(query), f"{key}.sql", self.line_of(data, "sql"), local)
        if role is None or query is None:
            return None
        claims.setdefault("role", role)
        return RlsQuery(role=role, claims=claims, setup=tuple(setup), query=query)

    def expect(self, data: LinedMap, key: str, kind: Kind, local: list[str]) -> Expectation | None:
        ekey = f"{key}.expect"
        if "expect" not in data:
            self.problem(ekey, "is required: what the check must find ("
                         + ("status, json, json_types" if kind == "http"
                            else "rows, row_count or error") + ")", self.line_of(data))
            return None
        raw = self.mapping(data["expect"], ekey, self.line_of(data, "expect"),
                           "status/json/json_types" if kind == "http"
                           else "rows/row_count/error")
        if raw is None:
            return None
        ok = True
        if kind == "http":
            self.keys(raw, ekey, ("status", "json", "json_types"), "an http expectation")
            status = raw.get("status")
            statuses = status if isinstance(status, list) else [status]
            if status is None or not statuses or not all(
                    isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599
                    for s in statuses):
                self.problem(f"{ekey}.status", "is required: an HTTP status (100-599) or a list "
                             "of them", self.line_of(raw, "status") or self.line_of(raw))
                ok = False
            types: dict[str, str] = {}
            if "json_types" in raw:
                traw = self.mapping(raw["json_types"], f"{ekey}.json_types",
                                    self.line_of(raw, "json_types"), "path: type")
                for path, type_name in (traw or {}).items():
                    if type_name not in JSON_TYPES:
                        self.problem(f"{ekey}.json_types.{path}", f"unknown type "
                                     f"{type_name!r}; allowed: {', '.join(JSON_TYPES)}",
                                     self.line_of(traw, path))
                        ok = False
                    else:
                        types[str(path)] = str(type_name)
            self.uses(template_names(raw.get("json")), f"{ekey}.json",
                      self.line_of(raw, "json"), local)
            if not ok:
                return None
            return Expectation(status=tuple(int(s) for s in statuses if s is not None),
                               json=raw.get("json", MISSING), json_types=types)
        self.keys(raw, ekey, ("rows", "row_count", "error"), f"an {kind} expectation")
        if not any(k in raw for k in ("rows", "row_count", "error")):
            self.problem(ekey, "needs rows, row_count or error", self.line_of(raw))
            return None
        if "error" in raw and ("rows" in raw or "row_count" in raw):
            self.problem(ekey, "error cannot be combined with rows or row_count (a failing "
                         "query returns no rows)", self.line_of(raw))
            return None
        rows = raw.get("rows")
        if rows is not None and (not isinstance(rows, list) or not all(
                isinstance(r, dict) for r in rows)):
            self.problem(f"{ekey}.rows", "must be a list of rows (mappings column: value); "
                         "[] for none", self.line_of(raw, "rows"))
            ok = False
        count = raw.get("row_count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 0):
            self.problem(f"{ekey}.row_count", "must be a whole number ≥ 0",
                         self.line_of(raw, "row_count"))
            ok = False
        if rows is not None and count is not None and isinstance(rows, list) and \
                count != len(rows):
            self.problem(ekey, f"row_count {count} contradicts the {len(rows)} rows listed",
                         self.line_of(raw))
            ok = False
        error = raw.get("error")
        if error is not None and (not isinstance(error, str | int) or not str(error).strip()):
            self.problem(f"{ekey}.error", "must be an SQLSTATE (e.g. 42501) or text the error "
                         "message contains", self.line_of(raw, "error"))
            ok = False
        self.uses(template_names(rows), f"{ekey}.rows", self.line_of(raw, "rows"), local)
        if not ok:
            return None
        return Expectation(rows=tuple(rows) if rows is not None else None, row_count=count,
                           error=str(error) if error is not None else None)

    def capture(self, data: LinedMap, key: str, kind: Kind) -> dict[str, str]:
        if "capture" not in data:
            return {}
        ckey = f"{key}.capture"
        allowed = ("json.<path>, status or header.<name>" if kind == "http"
                   else "row.<column>, rows.<n>.<column> or row_count")
        raw = self.mapping(data["capture"], ckey, self.line_of(data, "capture"),
                           f"name: source ({allowed})")
        out: dict[str, str] = {}
        for name, source in (raw or {}).items():
            line = self.line_of(raw, name)
            if not isinstance(name, str) or not NAME.fullmatch(name):
                self.problem(f"{ckey}.{name}", "names are letters, digits and _ (not starting "
                             "with a digit)", line)
            elif name in self.defined or name in out:
                self.problem(f"{ckey}.{name}", "is already captured or generated; pick another "
                             "name", line)
            elif not isinstance(source, str) or not _capture_source_ok(source, kind):
                self.problem(f"{ckey}.{name}", f"cannot capture {source!r}; allowed: {allowed}",
                             line)
            else:
                out[name] = source
        return out


def _capture_source_ok(source: str, kind: Kind) -> bool:
    if kind == "http":
        return source == "status" or bool(re.fullmatch(r"json(\.[^.]+)+|header\.[^.]+", source))
    return source == "row_count" or bool(
        re.fullmatch(r"row\.[^.]+|rows\.\d+\.[^.]+", source))


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
