"""smoke: the runbook's smoke tests (Test 1-3) from the smoke file, against the environment.

Checks run in order and the first failure stops the line: a 5xx from a function, data that
is not what the runbook expects, or an RLS check that lets a user see what is not theirs.
What a check created is recorded in ctx.state.smoke_cleanup (SQL with the captured values
quoted by psycopg) and removed if the deployment is rolled back.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from psycopg import pq, sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from workers.drivers.interfaces import DatabaseUnavailable
from workers.runbook.context import DeployContext
from workers.runbook.events import Annotation
from workers.runbook.smoke_spec import (
    MISSING,
    Check,
    HttpCall,
    HttpCheck,
    RlsCheck,
    RlsQuery,
    SmokeSpec,
    SmokeSpecError,
    SqlCheck,
    bind_sql,
    http_request,
    load_smoke_spec,
    lookup,
    mismatches,
    normalize,
    render,
    sql_parameters,
    to_json_text,
    type_problem,
)
from workers.runbook.step import Step, StepFailed, StepSkipped

# Which runbook stop-the-line condition a failed check is.
STOP_5XX = "Edge Function returns 500 errors"
STOP_DATA = "unexpected data"
STOP_RLS = "RLS test fails"
STOP_HTTP = "Edge Function returns unexpected responses"
STOP_UNREACHABLE = "Edge Function unreachable"
STOP_DB = "database connection issues"

_EXCERPT = 300
_MAX_DETAILS = 8
RLS_STATEMENT_TIMEOUT = "30s"


@dataclass
class Result:
    ok: bool
    summary: str = ""
    details: list[str] = field(default_factory=list)
    stop: str = ""
    captured: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # shown after a passing check, e.g. the status


# --------------------------------------------------------------------------- helpers


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sql_literal(value: Any) -> str:
    """A value as an SQL literal, quoted by psycopg (safe for any text)."""
    if isinstance(value, Mapping | list):
        value = json.dumps(normalize(value), default=str)
    return sql.Literal(value).as_string(None)


def render_cleanup(statements: tuple[str, ...], variables: Mapping[str, Any]) -> list[str]:
    """The cleanup statements whose parameters are all known, with the values quoted in
    (ctx.state keeps plain SQL text; psycopg does the quoting, never str.format)."""
    out: list[str] = []
    for statement in statements:
        names = sql_parameters(statement)
        if any(name not in variables for name in names):
            continue  # what it would delete was never created
        if not names:
            out.append(statement)
            continue
        query, _ = bind_sql(statement)  # every other % is doubled: safe for %-substitution
        out.append(query % {name: sql_literal(variables[name]) for name in names})
    return out


def connection_kwargs(libpq_env: Mapping[str, str]) -> dict[str, str]:
    """psycopg connect() keywords from the PG* variables a Database hands out."""
    by_var = {opt.envvar.decode(): opt.keyword.decode()
              for opt in pq.Conninfo.get_defaults() if opt.envvar}
    return {by_var[k]: v for k, v in libpq_env.items() if k in by_var}


def _params(query: str, variables: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    bound, names = bind_sql(query)
    return bound, ({name: variables[name] for name in names} if names else None)


def _error_matches(expected: str, exc: psycopg.Error) -> bool:
    state = exc.sqlstate or ""
    message = str(exc)
    return expected == state or expected.lower() in message.lower()


def _error_text(exc: psycopg.Error) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{exc.sqlstate}: {first}" if exc.sqlstate else first


# --------------------------------------------------------------------------- the checks


async def run_rolled_back(conninfo: Mapping[str, str], setup: list[tuple[str, Any]],
                          role: str, claims: Mapping[str, Any], query: str,
                          params: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Run `setup` as the connecting user, then `query` as `role` with JWT `claims` (like
    PostgREST), in one transaction that is always rolled back. Raises _SetupFailed when a
    setup statement fails, psycopg.Error when the query does."""
    options = dict(conninfo)
    options.setdefault("connect_timeout", "10")
    conn = await psycopg.AsyncConnection.connect(make_conninfo("", **options))
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                sql.Literal(RLS_STATEMENT_TIMEOUT)))
            for index, (statement, values) in enumerate(setup):
                try:
                    await cur.execute(statement, values)
                except psycopg.Error as exc:
                    raise _SetupFailed(index, exc) from exc
            await cur.execute("SELECT set_config('request.jwt.claims', %s, true)",
                              (json.dumps(claims, default=str),))
            await cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            await cur.execute(query, params)
            return await cur.fetchall() if cur.description else []
    finally:
        try:
            await conn.rollback()
        finally:
            await conn.close()


class _SetupFailed(Exception):
    def __init__(self, index: int, error: psycopg.Error) -> None:
        super().__init__(f"setup[{index}] failed: {_error_text(error)}")
        self.error = error


class SmokeRunner:
    def __init__(self, ctx: DeployContext, base_url: str | None,
                 client: httpx.AsyncClient) -> None:
        self.ctx = ctx
        self.base_url = base_url
        self.client = client

    async def run(self, check: Check, variables: dict[str, Any]) -> Result:
        if isinstance(check, HttpCheck):
            return await self.http(check, check.http, variables)
        if isinstance(check, RlsCheck):
            return await self.rls(check, check.rls, variables)
        return await self.sql(check, check.sql, variables)

    async def http(self, check: HttpCheck, call: HttpCall, variables: dict[str, Any]) -> Result:
        assert self.base_url is not None
        req = http_request(call, variables, self.base_url, self.ctx.environment.anon_key)
        try:
            response = await self.client.request(call.method, req.url, headers=req.headers,
                                                 content=req.content, timeout=call.timeout_s)
        except httpx.TimeoutException:
            return Result(False, f"no answer from {call.method} {call.path} within "
                          f"{call.timeout_s:g} s", stop=STOP_UNREACHABLE)
        except httpx.HTTPError as exc:
            return Result(False, f"{call.method} {call.path} failed: {type(exc).__name__}: "
                          f"{excerpt(str(exc), 120)}", stop=STOP_UNREACHABLE)
        body_text = response.text
        expect = check.expect
        if response.status_code not in expect.status:
            wanted = " or ".join(str(s) for s in expect.status)
            return Result(False, f"status: expected {wanted}, got {response.status_code}",
                          [f"got body: {excerpt(body_text) or '(empty)'}"],
                          stop=STOP_5XX if response.status_code >= 500 else STOP_HTTP)
        data: Any = MISSING
        needs_json = (expect.json_subset is not MISSING or expect.json_types
                      or any(s.startswith("json.") for s in check.capture.values()))
        if needs_json:
            try:
                data = json.loads(body_text, parse_float=Decimal)
            except ValueError:
                return Result(False, "the response is not JSON",
                              [f"got body: {excerpt(body_text) or '(empty)'}"], stop=STOP_HTTP)
        problems: list[str] = []
        if expect.json_subset is not MISSING:
            problems += mismatches(render(expect.json_subset, variables), data, "json")
        for path, type_name in expect.json_types.items():
            why = type_problem(lookup(data, path), type_name)
            if why:
                problems.append(f"json.{path}: {why}")
        captured: dict[str, Any] = {}
        for name, source in check.capture.items():
            if source == "status":
                captured[name] = response.status_code
            elif source.startswith("header."):
                value = response.headers.get(source[len("header."):])
                if value is None:
                    problems.append(f"capture {name}: no {source[7:]} header in the response")
                captured[name] = value
            else:
                value = lookup(data, source[len("json."):])
                if value is MISSING:
                    problems.append(f"capture {name}: {source} is missing")
                captured[name] = value
        if problems:
            # What it did capture still counts for cleanup: a function that stored a row
            # and then answered wrongly must not leave that row behind.
            return Result(False, problems[0],
                          [*problems[1:_MAX_DETAILS], f"got body: {excerpt(body_text)}"],
                          stop=STOP_HTTP, captured={k: v for k, v in captured.items()
                                                    if v is not MISSING and v is not None})
        return Result(True, captured=captured, note=str(response.status_code))

    async def sql(self, check: SqlCheck, query: str, variables: dict[str, Any]) -> Result:
        bound, params = _params(query, variables)
        try:
            rows = await self.ctx.environment.database.fetch(bound, params)
        except DatabaseUnavailable:
            raise
        except psycopg.Error as exc:
            return self._query_failed(check, exc, STOP_DATA)
        return self._rows(check, rows, variables, STOP_DATA)

    async def rls(self, check: RlsCheck, rls: RlsQuery, variables: dict[str, Any]) -> Result:
        conninfo = connection_kwargs(self.ctx.environment.database.libpq_env())
        setup = [_params(statement, variables) for statement in rls.setup]
        bound, params = _params(rls.query, variables)
        claims = render(dict(rls.claims), variables)
        try:
            rows = await run_rolled_back(conninfo, setup, rls.role, claims, bound, params)
        except _SetupFailed as exc:
            return Result(False, str(exc), stop=STOP_RLS)
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None:  # no server answer: the connection itself failed
                raise DatabaseUnavailable(
                    f"cannot reach {self.ctx.environment.database.redacted_url} for the RLS "
                    f"check: {_error_text(exc)}") from None
            return self._query_failed(check, exc, STOP_RLS)
        except psycopg.Error as exc:
            return self._query_failed(check, exc, STOP_RLS)
        return self._rows(check, rows, variables, STOP_RLS)

    @staticmethod
    def _query_failed(check: SqlCheck | RlsCheck, exc: psycopg.Error, stop: str) -> Result:
        if check.expect.error is not None and _error_matches(check.expect.error, exc):
            return Result(True, note=f"failed as expected: {_error_text(exc)}")
        if check.expect.error is not None:
            return Result(False, f"expected an error matching {check.expect.error!r}, got "
                          f"{_error_text(exc)}", stop=stop)
        return Result(False, f"the query failed: {_error_text(exc)}", stop=stop)

    @staticmethod
    def _rows(check: SqlCheck | RlsCheck, rows: list[dict[str, Any]], variables: Mapping[str, Any],
              stop: str) -> Result:
        expect = check.expect
        if expect.error is not None:
            return Result(False, f"expected the query to fail ({expect.error}), but it "
                          f"returned {len(rows)} row(s)",
                          [f"got rows: {excerpt(to_json_text(normalize(rows)))}"], stop=stop)
        problems: list[str] = []
        if expect.row_count is not None and len(rows) != expect.row_count:
            problems.append(f"expected {expect.row_count} row(s), got {len(rows)}")
        if expect.rows is not None:
            problems += mismatches(render(list(expect.rows), variables), rows, "rows")
        captured: dict[str, Any] = {}
        for name, source in check.capture.items():
            if source == "row_count":
                captured[name] = len(rows)
                continue
            _, index, column = ("rows", "0", source[4:]) if source.startswith("row.") \
                else source.split(".", 2)
            if int(index) >= len(rows) or column not in rows[int(index)]:
                problems.append(f"capture {name}: {source} is missing")
            else:
                captured[name] = rows[int(index)][column]
        if problems:
            return Result(False, problems[0], [
                *problems[1:_MAX_DETAILS],
                f"got rows: {excerpt(to_json_text(normalize(rows)))}"], stop=stop)
        return Result(True, captured=captured, note=f"{len(rows)} row(s)")


# --------------------------------------------------------------------------- the step


def _load(ctx: DeployContext) -> SmokeSpec:
    relpath = ctx.config.paths.smoke
    try:
        return load_smoke_spec(ctx.source.root, relpath)
    except FileNotFoundError:
        raise StepSkipped(f"no smoke checks ({relpath} does not exist)") from None
    except SmokeSpecError as exc:
        first = exc.describe(exc.problems[0])
        raise StepFailed(
            f"{relpath} is invalid ({len(exc.problems)} problem(s)); first: {first}",
            output=str(exc),
            annotations=[Annotation(relpath, p.line or 1, f"{p.key}: {p.message}",
                                    "invalid smoke file") for p in exc.problems[:50]],
        ) from None


async def run(ctx: DeployContext) -> None:
    spec = _load(ctx)
    relpath = ctx.config.paths.smoke
    variables: dict[str, Any] = {}
    ctx.state.smoke_cleanup = render_cleanup(spec.cleanup, variables)
    await ctx.journal("smoke_cleanup", ctx.state.smoke_cleanup)
    key = ctx.environment.anon_key

    def redact(text: str) -> str:
        return text.replace(key, "[anon key]") if key else text

    base_url: str | None = None
    if any(isinstance(c, HttpCheck) for c in spec.checks):
        if ctx.environment.functions_url is None:
            raise StepFailed(f"{relpath} calls functions, but no function host serves "
                             f"{ctx.environment.name} (set environments.{ctx.environment.name}"
                             ".functions_url)", stop_the_line=STOP_UNREACHABLE)
        try:
            base_url = await ctx.environment.functions_url()
        except Exception as exc:
            raise StepFailed(redact(f"no function host for the smoke tests: {exc}"),
                             stop_the_line=STOP_UNREACHABLE) from None
    async with httpx.AsyncClient(follow_redirects=False) as client:
        runner = SmokeRunner(ctx, base_url, client)
        for index, check in enumerate(spec.checks):
            await ctx.progress(f"smoke {index + 1}/{len(spec.checks)}: {check.name}")
            for name in check.generate:
                variables[name] = uuid.uuid4()
            started = time.perf_counter()
            try:
                result = await runner.run(check, variables)
            except DatabaseUnavailable as exc:
                raise StepFailed(str(exc), stop_the_line=STOP_DB) from None
            ms = (time.perf_counter() - started) * 1000
            if result.captured:  # a failed check may have created data too: clean it up
                variables.update(result.captured)
                ctx.state.smoke_cleanup = render_cleanup(spec.cleanup, variables)
                await ctx.journal("smoke_cleanup", ctx.state.smoke_cleanup)
            if result.ok:
                note = f", {result.note}" if result.note else ""
                await ctx.output(redact(f"✓ {check.name} ({ms:.0f} ms{note})"))
                continue
            if result.captured:
                variables.update(result.captured)
                ctx.state.smoke_cleanup = render_cleanup(spec.cleanup, variables)
                await ctx.journal("smoke_cleanup", ctx.state.smoke_cleanup)
            lines = [f"✗ {check.name} ({ms:.0f} ms): {result.summary}"]
            lines += [f"    {d}" for d in result.details]
            lines += [f"- {c.name}: not run" for c in spec.checks[index + 1:]]
            text = redact("\n".join(lines))
            await ctx.output(text)
            raise StepFailed(redact(f"smoke check {check.name!r} failed: {result.summary}"),
                             output=text, stop_the_line=result.stop,
                             annotations=[Annotation(relpath, check.line or 1,
                                                     redact(result.summary),
                                                     f"smoke check failed: {check.name}")])
    await ctx.outcome(f"{len(spec.checks)} smoke check{'' if len(spec.checks) == 1 else 's'} "
                      "passed")


async def undo(ctx: DeployContext) -> None:
    statements = ctx.state.smoke_cleanup
    if not statements:
        await ctx.output("no smoke data to clean up")
        return
    for statement in statements:
        await ctx.environment.database.execute(statement)
    await ctx.output(f"removed the smoke tests' data ({len(statements)} statement(s))")


SMOKE = Step(name="smoke", title="Smoke tests", run=run, undo=undo, runbook="Smoke Tests")
