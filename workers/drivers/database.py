"""An environment's PostgreSQL database, with migration history kept like the Supabase CLI.

History: `supabase_migrations.schema_migrations(version text primary key, statements
text[], name text)`, created like the CLI creates it; hosted projects carry more columns,
so only those three are ever written.

Speed: a migration file goes to the server in one simple-query message (BEGIN, the
timeouts, the file as written, the history row, COMMIT): one round trip per file, and the
server's own parser decides where statements end. Only when that fails do we run the
file's statements one by one, in a transaction that is rolled back, to find the statement
and line that failed. Files with their own BEGIN/COMMIT run statement by statement, those
left out (running them would commit without the history row). A file ending inside a
string or comment is refused: the server would swallow what we append.

Integrity: where the splitter and the server disagree, a COMMIT or ROLLBACK can reach the
server inside what looked like one statement (issue 11). So the transaction is checked
against what the server reports, not what the splitter saw: the command tag of every
command it ran, the transaction status after each statement, and a guard before the
history row that the transaction is still the one the file began in. A file that ended it
fails with `transaction_ended`; its undo restores the verified backup.

One transaction (`transaction()`): a deployment's files each run as above but inside a
savepoint of one transaction begun with the timeouts and the marker, its test files each in
a savepoint of a random name rolled back, and the guard runs again before the COMMIT. A
file with a statement the server refuses in a transaction block (CREATE INDEX
CONCURRENTLY) runs statement by statement outside any, its history row last.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus
from psycopg.pq.abc import PGresult
from psycopg.rows import dict_row

from service import pgtools
from service.observability.redact import redact_with
from service.pgtools import PgTools
from service.retrying import backoff, retry_context
from workers.drivers import privileges
from workers.drivers.interfaces import (
    AppliedMigration,
    DatabaseUnavailable,
    MigrationError,
    MigrationFile,
    RolledBackRun,
    TransactionLost,
)
from workers.drivers.libpq import libpq_env_from_url
from workers.repository.migration_files import (
    is_transaction_abort,
    is_transaction_control,
    outside_transaction,
)
from workers.repository.sql_split import SplitResult, Statement, split

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

HISTORY_SCHEMA = "supabase_migrations"
HISTORY_TABLE = f"{HISTORY_SCHEMA}.schema_migrations"
# The CLI's own DDL: it adds the columns one by one, so a table made by an older CLI gets
# them too; IF NOT EXISTS keeps a hosted project's table (and its extra columns) as it is.
HISTORY_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {HISTORY_SCHEMA};
CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version text NOT NULL PRIMARY KEY);
ALTER TABLE {HISTORY_TABLE} ADD COLUMN IF NOT EXISTS statements text[];
ALTER TABLE {HISTORY_TABLE} ADD COLUMN IF NOT EXISTS name text;
"""
_HISTORY_READY = f"""
SELECT count(*) = 3 FROM pg_catalog.pg_attribute
WHERE attrelid = to_regclass('{HISTORY_TABLE}')
  AND attname IN ('version', 'statements', 'name') AND NOT attisdropped
"""

# Settings that change how the server reads a query's text: the splitter assumes these
# values, and a file that changed them could hide a COMMIT in what looks like a string.
_LEXICAL_SETTINGS = {"standard_conforming_strings": "on", "client_encoding": "UTF8"}
# Command tags of a command that ends the transaction (END is tagged COMMIT).
_ENDING_TAGS = frozenset({"COMMIT", "PREPARE TRANSACTION", "COMMIT PREPARED",
                          "ROLLBACK PREPARED"})
# A transaction-local marker holding the file's transaction id, set first; the guard, run
# just before the history row, fails unless the transaction is still that one.
_MARKER = "deploybot.migration_xact"
_MARK = f"SELECT pg_catalog.set_config('{_MARKER}', pg_catalog.txid_current()::text, true);\n"
_GUARD_MESSAGE = "deploybot: the migration file ended its own transaction"
_GUARD = (f"DO $deploybot$BEGIN IF pg_catalog.current_setting('{_MARKER}', true) IS DISTINCT "
          f"FROM pg_catalog.txid_current_if_assigned()::text THEN RAISE EXCEPTION "
          f"'{_GUARD_MESSAGE}' USING ERRCODE = '25P01'; END IF; END$deploybot$")

_DEFAULT_CONNECT_TIMEOUT = 10  # seconds; libpq waits forever by default


@dataclass(frozen=True)
class _Failure:
    """What the server said when a statement failed."""

    error: str  # message, with DETAIL / HINT / CONTEXT lines when the server gave them
    sqlstate: str | None


@dataclass(frozen=True)
class _Frame:
    """What a migration file runs in: its own transaction, or a savepoint of the
    deployment's transaction (PostgresDatabase.transaction)."""

    begin: str
    end: str
    undo: str  # gives up what ran since `begin`
    settled: TransactionStatus  # the status once `end` or `undo` ran


_OWN = _Frame("BEGIN", "COMMIT", "ROLLBACK", TransactionStatus.IDLE)
_FILE_SAVEPOINT = "deploybot_file"
_IN_DEPLOYMENT = _Frame(f"SAVEPOINT {_FILE_SAVEPOINT}", f"RELEASE SAVEPOINT {_FILE_SAVEPOINT}",
                        f"ROLLBACK TO SAVEPOINT {_FILE_SAVEPOINT}", TransactionStatus.INTRANS)


def redact(url: str) -> str:
    """The URL as `postgresql://user:***@host:port/db?…`: never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    host = str(params.pop("host", ""))
    port = str(params.pop("port", ""))
    dbname = quote(str(params.pop("dbname", "")), safe="")
    auth = f"{user}{':***' if password is not None else ''}@" if user or password else ""
    query: list[tuple[str, str]] = []
    if host.startswith("/") or "," in host:
        query.append(("host", host))  # unix socket directory or several hosts
        host = ""
        if port:
            query.append(("port", port))
            port = ""
    netloc = f"{auth}{host}{':' + port if port else ''}"
    query += sorted((k, str(v)) for k, v in params.items())
    qs = "&".join(f"{k}={quote(v, safe='/,')}" for k, v in query)
    return f"postgresql://{netloc}/{dbname}{'?' + qs if qs else ''}"


def _failure(exc: psycopg.Error) -> _Failure:
    diag = exc.diag
    primary = diag.message_primary or str(exc).strip() or type(exc).__name__
    lines = [primary]
    for label, value in (("DETAIL", diag.message_detail), ("HINT", diag.message_hint),
                         ("CONTEXT", diag.context)):
        if value:
            lines.append(f"{label}: {value.strip()}")
    return _Failure("\n".join(lines), diag.sqlstate)


def _setup_sql(lock_timeout_ms: int, statement_timeout_ms: int, durable: bool = True) -> str:
    # SET LOCAL: the settings end with the transaction, whatever happens.
    parts = [f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'"]
    if not durable:
        # The WAL flush of the batch's last (durable) commit covers this one too: WAL is
        # written in order. Until then a server crash can lose it — and the step, seeing
        # the connection die, checks the history before claiming anything.
        parts.append("SET LOCAL synchronous_commit = off")
    if statement_timeout_ms:
        parts.append(f"SET LOCAL statement_timeout = '{int(statement_timeout_ms)}ms'")
    return ";\n".join(parts) + ";\n"


class _TagCursor(psycopg.AsyncCursor[Any]):
    """A cursor that keeps the command tag of every result of a multi-statement query, also
    when one failed (psycopg raises on the first error and drops the rest): the tags say
    which commands the server really ran, whatever the splitter thought the text held."""

    tags: list[str] | None = None

    def _check_results(self, results: list[PGresult]) -> None:
        self.tags = [(r.command_status or b"").decode("ascii", "replace") for r in results]
        super()._check_results(results)


async def _send(conn: Conn, text: str) -> tuple[list[str], _Failure | None]:
    """Send `text` as one simple query: the tags of the commands that ran, and the failure."""
    cur = _TagCursor(conn)
    failure: _Failure | None = None
    try:
        await cur.execute(text.encode())
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise
        failure = _failure(exc)
    finally:
        await cur.close()
    if cur.tags is None:  # psycopg changed how it checks results: never guess
        raise RuntimeError("psycopg did not hand over the command tags of a migration")
    return cur.tags, failure


class _Printed:
    """What a rolled-back test printed, statement by statement: the values it returned and
    the notices the server sent meanwhile (those of the set-up before it are dropped)."""

    def __init__(self) -> None:
        self.outputs: list[list[str]] = []
        self._current: list[str] = []

    def next(self) -> list[str]:
        self._current = []
        self.outputs.append(self._current)
        return self._current

    def notice(self, diag: psycopg.errors.Diagnostic) -> None:
        self._current.append(f"{diag.severity or 'NOTICE'}: {diag.message_primary or ''}")


async def _collect(cur: psycopg.AsyncCursor[Any], statement: str, printed: list[str]) -> None:
    """Run one statement of a rolled-back test; every value of every result it returned
    goes to `printed` as text (pgTAP's TAP lines among them)."""
    await cur.execute(statement.encode())
    while True:
        if cur.description is not None:
            for row in await cur.fetchall():
                printed.extend(str(v) for v in row if v is not None)
        if not cur.nextset():
            break


def _ended_by(tags: Sequence[str]) -> str:
    """The first tag that ends a transaction (ROLLBACK is left out: ROLLBACK TO SAVEPOINT
    has that tag too; the transaction status and the guard catch a real one)."""
    return next((t for t in tags if t in _ENDING_TAGS), "")


def _is_guard(failure: _Failure) -> bool:
    return failure.error.startswith(_GUARD_MESSAGE)


def _ended_at(migration: MigrationFile, statement: Statement, tag: str) -> MigrationError:
    what = "this statement" if statement.sql else "the file"
    return MigrationError(migration, statement.line, statement.sql, (
        f"{what} ended the file's own transaction: the server ran a {tag} that deploybot "
        f"did not see as a statement of its own (a COMMIT or ROLLBACK hidden in a routine "
        f"body, a procedure or DO block that commits, or text the server reads "
        f"differently). What ran before it may be committed, so the deployment restores "
        f"the verified backup; remove the transaction control from the migration"),
        "25P01", transaction_ended=True)


async def _standard_lexing(conn: Conn) -> None:
    """Put back the settings the splitter assumes, should an earlier file have changed
    them for the session (the server reports them, so this costs no round trip)."""
    changes = [f"SET {name} = '{value}'" for name, value in _LEXICAL_SETTINGS.items()
               if conn.info.parameter_status(name) != value]
    if changes:
        await conn.execute(";".join(changes).encode())


def _lexing_changed(conn: Conn) -> str | None:
    return next((f"{name} (now {conn.info.parameter_status(name)})"
                 for name, value in _LEXICAL_SETTINGS.items()
                 if conn.info.parameter_status(name) != value), None)


def _statement_hiding_commands(url: str, statements: Sequence[Statement]) -> Statement | None:
    """The first statement the server parses as more than one command: Parse refuses
    several commands in one prepared statement, and Parse alone executes nothing."""
    try:
        with psycopg.connect(url, autocommit=True,
                             connect_timeout=_DEFAULT_CONNECT_TIMEOUT) as conn:
            for statement in statements:
                result = conn.pgconn.prepare(b"", statement.sql.encode())
                if (result.status == ExecStatus.FATAL_ERROR
                        and result.error_field(DiagnosticField.SQLSTATE) == b"42601"
                        and b"multiple commands" in (result.error_message or b"")):
                    return statement
    except psycopg.Error:
        return None  # naming the statement is a courtesy; the failure stands anyway
    return None


def attempts_within(seconds: float, first: float = 0.5, cap: float = 5.0) -> int:
    """Connection attempts whose backoff waits add up to at most `seconds`: how long an
    environment's database may be away (a restart) before the step gives up. Counted on the
    waits without their jitter; `connect_within` bounds the jittered ones."""
    attempts, waited = 1, 0.0
    while waited + backoff(attempts, first=first, cap=cap, jitter=0.0) <= seconds:
        waited += backoff(attempts, first=first, cap=cap, jitter=0.0)
        attempts += 1
    return attempts


def _refuse(script: MigrationFile, parsed: SplitResult) -> None:
    """MigrationError for a file that must not be sent at all."""
    if parsed.unterminated:
        # The server would take the rest of the file, and anything we append, as part of it.
        raise MigrationError(script, parsed.unterminated_line, "", (
            f"unterminated {parsed.unterminated}: it runs to the end of the file; "
            f"close it"), "42601")
    abort = next((s for s in parsed.statements if is_transaction_abort(s.sql)), None)
    if abort is not None:
        raise MigrationError(script, abort.line, abort.sql, (
            f"`{abort.sql}` would abort the transaction the file runs in, halfway "
            f"through; remove it (ROLLBACK TO SAVEPOINT is fine)"))


def _insert(migration: MigrationFile, parsed: SplitResult) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {} (version, name, statements) VALUES ({}, {}, ARRAY[{}]::text[])"
    ).format(
        sql.SQL(HISTORY_TABLE), sql.Literal(migration.version), sql.Literal(migration.name),
        # As the Supabase CLI stores them: comments before a statement included.
        sql.SQL(", ").join(sql.Literal(s.source) for s in parsed.statements))


class PostgresDatabase:
    """The Database protocol (workers/drivers/interfaces.py) on one PostgreSQL connection,
    opened on first use with bounded retries and reopened when it breaks. Calls are
    serialised; `aclose()` (or `async with`) closes it."""

    def __init__(self, url: str, *, connect_retries: int = 5, retry_delay: float = 0.5,
                 max_delay: float = 5.0, connect_within: float | None = None,
                 allow_superuser: bool = False) -> None:
        self._url = url
        # A superuser URL is refused unless the operator opted in (workers/drivers/privileges).
        self._allow_superuser = allow_superuser
        self._redacted = redact(url)
        self._connect_retries = max(1, connect_retries)
        self._retry_delay = retry_delay
        self._max_delay = max_delay
        self._connect_within = connect_within  # no attempt starts later (None: no bound)
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()
        self._history_ready = False

    def __repr__(self) -> str:  # the URL may hold a password
        return f"PostgresDatabase({self._redacted!r})"

    async def __aenter__(self) -> PostgresDatabase:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    # -- connection ---------------------------------------------------------------------

    @property
    def redacted_url(self) -> str:
        return self._redacted

    def libpq_env(self) -> dict[str, str]:
        return libpq_env_from_url(self._url)

    def tools(self, server_version_num: int) -> PgTools:
        return pgtools.for_server(server_version_num)

    async def _connect(self) -> Conn:
        """A new connection, with bounded retries and exponential backoff (jittered)."""
        conn = await self._open()
        try:
            privileges.check_connection(conn, allow_superuser=self._allow_superuser)
        except privileges.SuperuserRefused:
            await conn.close()
            raise
        return conn

    async def _open(self) -> Conn:
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in conninfo_to_dict(self._url):
            kwargs["connect_timeout"] = _DEFAULT_CONNECT_TIMEOUT
        tried = 0
        try:
            async for attempt in retry_context(
                    psycopg.OperationalError, attempts=self._connect_retries,
                    first=self._retry_delay, cap=self._max_delay, within=self._connect_within):
                with attempt:
                    tried = attempt.num
                    try:
                        return await psycopg.AsyncConnection.connect(self._url, **kwargs)
                    except psycopg.OperationalError as exc:
                        log.info("connecting to %s failed (attempt %d): %s", self._redacted,
                                 tried, self._reason(exc))
                        raise
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot reach {self._redacted} after {tried} attempts: "
                                      f"{self._reason(exc)}") from None
        raise AssertionError("unreachable")

    def _reason(self, exc: psycopg.OperationalError) -> str:
        return self._scrub(" ".join(str(exc).split()) or type(exc).__name__)

    def _scrub(self, text: str) -> str:
        password = conninfo_to_dict(self._url).get("password")
        return redact_with(text, [str(password)] if password else [])

    async def _connection(self) -> Conn:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._conn = conn = await self._connect()
        elif conn.info.transaction_status != TransactionStatus.IDLE:
            # Left over by a call that was interrupted: nothing else uses the connection.
            await conn.execute(b"ROLLBACK")
        return conn

    def _lost(self, conn: Conn) -> bool:
        if conn.closed or conn.broken:
            self._conn = None
            return True
        return False

    async def _read(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        """Run a read-only operation; once more on a new connection if the old one broke."""
        async with self._lock:
            conn = await self._connection()
            try:
                return await op(conn)
            except psycopg.OperationalError as exc:
                if not self._lost(conn):
                    raise
                log.info("connection to %s lost (%s); reconnecting", self._redacted,
                         self._scrub(str(exc).strip()))
            conn = await self._connection()
            try:
                return await op(conn)
            except psycopg.OperationalError as exc:
                if self._lost(conn):
                    raise DatabaseUnavailable(
                        f"lost the connection to {self._redacted}: "
                        f"{self._scrub(str(exc).strip())}") from exc
                raise

    # -- queries --------------------------------------------------------------------------

    async def server_version_num(self) -> int:
        async def op(conn: Conn) -> int:
            return conn.info.server_version
        return await self._read(op)

    async def fetch(self, query: str, params: dict[str, Any] | None = None,
                    *, role: str | None = None, claims: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]:
        async def op(conn: Conn) -> list[dict[str, Any]]:
            async with conn.cursor(row_factory=dict_row) as cur:
                if role is None and claims is None:
                    await cur.execute(query.encode(), params)
                    return await cur.fetchall() if cur.description else []
                # Like PostgREST: role and JWT claims are transaction-local, and the whole
                # transaction is rolled back so an RLS check leaves nothing behind.
                payload = dict(claims or {})
                if role is not None:
                    payload.setdefault("role", role)
                async with conn.transaction(force_rollback=True):
                    await cur.execute(
                        "SELECT set_config('request.jwt.claims', %(claims)s, true)",
                        {"claims": json.dumps(payload, default=str)})
                    if role is not None:
                        await cur.execute("SELECT set_config('role', %(role)s, true)",
                                          {"role": role})
                    await cur.execute(query.encode(), params)
                    return await cur.fetchall() if cur.description else []
        return await self._read(op)

    async def execute(self, statements: str) -> None:
        async with self._lock:
            conn = await self._connection()
            try:
                # One simple-query message: the statements commit together or not at all.
                await conn.execute(statements.encode())
            except psycopg.OperationalError as exc:
                if self._lost(conn):
                    raise DatabaseUnavailable(
                        f"lost the connection to {self._redacted}: "
                        f"{self._scrub(str(exc).strip())}") from exc
                raise

    async def run_rolled_back(self, statements: Sequence[str], *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0) -> RolledBackRun:
        async def op(conn: Conn) -> RolledBackRun:
            printed = _Printed()
            outputs = printed.outputs
            conn.add_notice_handler(printed.notice)
            try:
                await conn.execute(f"BEGIN;\n{_setup_sql(lock_timeout_ms, statement_timeout_ms)}"
                                   .encode())
                async with conn.cursor() as cur:
                    for index, statement in enumerate(statements):
                        try:
                            await _collect(cur, statement, printed.next())
                        except psycopg.Error as exc:
                            if conn.closed or conn.broken:
                                raise
                            failure = _failure(exc)
                            return RolledBackRun(outputs, index, failure.error,
                                                 failure.sqlstate)
                return RolledBackRun(outputs)
            except asyncio.CancelledError:
                # Mid-transaction: drop the connection and the server rolls back.
                self._conn = None
                conn.pgconn.finish()
                raise
            finally:
                conn.remove_notice_handler(printed.notice)
                if not conn.closed and not conn.broken:
                    await conn.execute(b"ROLLBACK")
        return await self._read(op)

    async def connection_count(self) -> int:
        rows = await self.fetch(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()")
        return int(rows[0]["n"])

    # -- migration history ------------------------------------------------------------------

    async def applied_migrations(self) -> list[AppliedMigration]:
        async def op(conn: Conn) -> list[AppliedMigration]:
            cur = await conn.execute(f"SELECT to_regclass('{HISTORY_TABLE}') IS NOT NULL")
            row = await cur.fetchone()
            if not row or not row[0]:
                return []
            cur = await conn.execute(
                f"SELECT version, name, statements FROM {HISTORY_TABLE} ORDER BY version")
            return [AppliedMigration(v, n, list(s or [])) for v, n, s in await cur.fetchall()]
        return await self._read(op)

    async def _history_sql(self, conn: Conn) -> str:
        """DDL for the history table when it is missing or incomplete, else ""."""
        if self._history_ready:
            return ""
        cur = await conn.execute(_HISTORY_READY)
        row = await cur.fetchone()
        return "" if row and row[0] else HISTORY_DDL

    async def apply_migration(self, migration: MigrationFile, *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0, durable: bool = True) -> None:
        parsed = split(migration.sql)
        if outside_transaction(migration) is not None:
            await self._apply_outside(migration, parsed, lock_timeout_ms,
                                      statement_timeout_ms)
        else:
            await self._transact(migration, migration, parsed, _insert(migration, parsed),
                                 lock_timeout_ms, statement_timeout_ms, applying=True,
                                 durable=durable)
        self._history_ready = True

    async def _apply_outside(self, migration: MigrationFile, parsed: SplitResult,
                             lock_timeout_ms: int, statement_timeout_ms: int) -> None:
        """A file with a statement the server refuses in a transaction block (CREATE INDEX
        CONCURRENTLY): each statement on its own, committed as it runs, then the history
        row. A failure after the first statement leaves part of the file committed:
        MigrationError with `transaction_ended`, whose undo is the verified backup."""
        _refuse(migration, parsed)
        to_run = [s for s in parsed.statements if not is_transaction_control(s.sql)]
        async with self._lock:
            conn = await self._connection()
            try:
                await _standard_lexing(conn)
                # Session settings, reset below: there is no transaction to scope them.
                await conn.execute(_setup_sql(lock_timeout_ms, statement_timeout_ms)
                                   .replace("SET LOCAL", "SET").encode())
                for done, statement in enumerate(to_run):
                    _, failure = await _send(conn, statement.sql)
                    changed = None if failure else _lexing_changed(conn)
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        await conn.execute(b"ROLLBACK")
                        failure = failure or _Failure(
                            "the statement left a transaction open (a BEGIN deploybot did "
                            "not see as a statement of its own); remove it", "25001")
                    if changed:
                        failure = _Failure(f"the statement sets {changed}, which changes how "
                                           f"the server reads the statements after it; "
                                           f"remove it", "42601")
                    if failure is not None:
                        error = self._migration_error(migration, statement, failure)
                        if done:
                            error.error += (f"\n({done} statement(s) of the file before it "
                                            f"ran outside a transaction and are committed)")
                            error.transaction_ended = True
                        error.outside_transaction = True
                        raise error
                history = await self._history_sql(conn)
                insert = _insert(migration, parsed).as_string(conn)
                await conn.execute(f"BEGIN;\n{history}{insert};\nCOMMIT;".encode())
            except MigrationError as exc:
                if exc.transaction_ended:
                    self._conn = None
                    await conn.close()
                raise
            except psycopg.OperationalError as exc:
                if not self._lost(conn):
                    raise
                raise DatabaseUnavailable(
                    f"lost the connection to {self._redacted} while applying "
                    f"{migration.relpath} outside a transaction: part of it may be committed: "
                    f"{self._scrub(' '.join(str(exc).split()))}") from exc
            except asyncio.CancelledError:
                self._conn = None
                conn.pgconn.finish()
                raise
            finally:
                if not conn.closed and not conn.broken:
                    await conn.execute(b"RESET lock_timeout; RESET statement_timeout")

    @asynccontextmanager
    async def transaction(self, *, lock_timeout_ms: int, statement_timeout_ms: int = 0
                          ) -> AsyncIterator[_DeploymentTransaction]:
        async with self._lock:
            conn = await self._connection()
            try:
                await _standard_lexing(conn)
                await conn.execute(f"BEGIN;\n{_setup_sql(lock_timeout_ms, statement_timeout_ms)}"
                                   f"{_MARK}".encode())
            except psycopg.OperationalError as exc:
                if self._lost(conn):
                    raise DatabaseUnavailable(
                        f"lost the connection to {self._redacted}: "
                        f"{self._scrub(' '.join(str(exc).split()))}") from exc
                raise
            txn = _DeploymentTransaction(self, conn)
            try:
                yield txn
            except asyncio.CancelledError:
                # Mid-transaction: drop the connection, and the server rolls back.
                txn.dropped = True
                conn.pgconn.finish()
                raise
            except psycopg.OperationalError as exc:
                if not self._lost(conn):
                    raise
                when = ("while committing the deployment's transaction, so whether it "
                        "committed is unknown" if txn.committing else
                        "while the deployment's transaction was open (no COMMIT was "
                        "sent, so the server rolls it back; the undo checks the history)")
                raise DatabaseUnavailable(
                    f"lost the connection to {self._redacted} {when}: "
                    f"{self._scrub(' '.join(str(exc).split()))}") from exc
            finally:
                if txn.dropped:
                    # A statement may have changed the session: never reuse the connection.
                    self._conn = None
                    if not conn.closed:
                        await conn.close()
                elif (not conn.closed and not conn.broken
                      and conn.info.transaction_status != TransactionStatus.IDLE):
                    await conn.execute(b"ROLLBACK")
                if txn.committed:
                    self._history_ready = True

    async def revert_migration(self, migration: MigrationFile, *, lock_timeout_ms: int) -> None:
        script = "" if migration.rollback_noop else (migration.rollback_sql or "")
        parsed = split(script)
        if not migration.rollback_noop and not parsed.statements:
            raise MigrationError(migration, 1, "", (
                f"{migration.relpath} has no rollback script to run; add "
                f"{migration.rollback_relpath or 'its rollback file'} (or mark it "
                f"`-- deploybot:rollback no-op`)"))
        # Errors point into the rollback file.
        rollback = MigrationFile(
            version=migration.version, name=migration.name,
            path=migration.rollback_path or migration.path,
            relpath=migration.rollback_relpath or migration.relpath, sql=script)
        delete = sql.SQL("DELETE FROM {} WHERE version = {}").format(
            sql.SQL(HISTORY_TABLE), sql.Literal(migration.version))
        await self._transact(migration, rollback, parsed, delete, lock_timeout_ms, 0,
                             applying=False)

    async def _transact(self, migration: MigrationFile, script: MigrationFile,
                        parsed: SplitResult, history_change: sql.Composed,
                        lock_timeout_ms: int, statement_timeout_ms: int, *,
                        applying: bool, durable: bool = True) -> None:
        """Run `script.sql` (split as `parsed`) and `history_change` in one transaction,
        or raise MigrationError (rolled back, or `transaction_ended`) / DatabaseUnavailable."""
        _refuse(script, parsed)
        setup = _setup_sql(lock_timeout_ms, statement_timeout_ms, durable) + _MARK
        async with self._lock:
            conn = await self._connection()
            try:
                await _standard_lexing(conn)
                history = await self._history_sql(conn) if applying else ""
                await self._run_script(conn, script, parsed, history_change, setup, history,
                                       _OWN)
            except MigrationError as exc:
                if exc.transaction_ended:
                    # The file may have changed the session (settings, temp tables) and
                    # committed it: nothing after it may run on this connection.
                    self._conn = None
                    await conn.close()
                raise
            except psycopg.OperationalError as exc:
                if not self._lost(conn):
                    raise
                await self._after_lost_connection(migration, exc, applying=applying)
            except asyncio.CancelledError:
                # Mid-transaction and no way to know where: drop the connection, and the
                # server rolls the transaction back.
                self._conn = None
                conn.pgconn.finish()
                raise

    async def _run_script(self, conn: Conn, script: MigrationFile, parsed: SplitResult,
                          history_change: sql.Composed, setup: str, history: str,
                          frame: _Frame) -> None:
        """Run the file and its history change inside `frame`: ended by `frame.end`, or
        given up with `frame.undo` and MigrationError."""
        to_run = [s for s in parsed.statements if not is_transaction_control(s.sql)]
        tail = f"{_GUARD};\n{history_change.as_string(conn)}"
        if len(to_run) == len(parsed.statements):
            failure = await self._apply_whole(conn, script, to_run, setup, history, tail,
                                              frame)
            if failure is None:
                return
            await self._raise_located(conn, script, to_run, setup, history, failure, frame)
        failed = await self._run_statements(conn, script, to_run, setup, history, tail,
                                            frame, commit=True)
        if failed is not None:
            raise self._migration_error(script, *failed)

    async def _apply_whole(self, conn: Conn, script: MigrationFile,
                           to_run: Sequence[Statement], setup: str, history: str,
                           tail: str, frame: _Frame) -> _Failure | None:
        # The newline ends a trailing -- comment; the lone ';' ends a last statement
        # written without one.
        message = (f"{frame.begin};\n{setup}{history}{script.sql}\n;\n{tail};\n"
                   f"{frame.end};")
        tags, failure = await _send(conn, message)
        # Every command but our begin and end came from the file (or the guard).
        ended = _ended_by(tags[1:-1] if failure is None else tags[1:])
        status = conn.info.transaction_status
        if failure is not None and (status != TransactionStatus.INERROR or _is_guard(failure)):
            ended = ended or "ROLLBACK"  # the transaction open at the failure was not ours
        if failure is None and status != frame.settled:
            ended = ended or "COMMIT"  # the deployment's transaction is no longer open
        if status != frame.settled:
            await conn.execute(b"ROLLBACK" if ended else frame.undo.encode())
        if ended:
            # Running the statements again to find the culprit would run it again too.
            prefix = 1 + f"{setup}{history}".count(";\n")
            raise await self._ended_error(script, to_run, ended, tags, prefix)
        return failure

    async def _raise_located(self, conn: Conn, migration: MigrationFile,
                             to_run: Sequence[Statement], setup: str, history: str,
                             failure: _Failure, frame: _Frame) -> None:
        """Find the statement that failed by running them one by one in a transaction (or
        savepoint) that is rolled back; raise MigrationError for it."""
        failed = await self._run_statements(conn, migration, to_run, setup, history, "",
                                            frame, commit=False)
        if failed is not None:
            statement, rerun = failed
            # Same error again: the rerun's text is as good; a different one (a timeout
            # that did not recur the same way): keep what the real run said.
            use = rerun if rerun.sqlstate == failure.sqlstate else failure
            raise self._migration_error(migration, statement, use)
        # Every statement passed on its own: the history row failed (the version is
        # already there), or a transient failure did not recur.
        raise self._migration_error(migration, Statement("", 1, 0, ""), failure)

    async def _run_statements(self, conn: Conn, migration: MigrationFile,
                              to_run: Sequence[Statement], setup: str, history: str,
                              tail: str, frame: _Frame, *, commit: bool
                              ) -> tuple[Statement, _Failure] | None:
        """Run the statements one by one in one transaction (or savepoint); the failing
        one, or None. After each, the transaction must still be the file's own, and the
        server must still read text as the splitter does; else MigrationError
        (transaction_ended)."""
        await conn.execute(f"{frame.begin};\n{setup}{history}".encode())
        for statement in to_run:
            tags, failure = await _send(conn, statement.sql)
            status = conn.info.transaction_status
            expected = TransactionStatus.INERROR if failure else TransactionStatus.INTRANS
            ended = _ended_by(tags) or ("" if status == expected else "ROLLBACK")
            changed = None if failure or ended else _lexing_changed(conn)
            if (failure or ended or changed) and status != TransactionStatus.IDLE:
                await conn.execute(b"ROLLBACK" if ended else frame.undo.encode())
            if ended:
                raise _ended_at(migration, statement, ended)
            if changed:
                raise MigrationError(migration, statement.line, statement.sql, (
                    f"the statement sets {changed}, which changes how the server reads the "
                    f"statements after it: deploybot and the server would no longer agree "
                    f"where each one ends; remove it (the file was rolled back)"), "42601")
            if failure is not None:
                return statement, failure
        if not commit:
            await conn.execute(frame.undo.encode())
            return None
        tags, failure = await _send(conn, f"{tail};\n{frame.end};")
        ended = _ended_by(tags[:-1] if failure is None else tags)
        if failure is not None and _is_guard(failure):
            ended = ended or "ROLLBACK"
        if conn.info.transaction_status != frame.settled:
            await conn.execute(b"ROLLBACK" if ended else frame.undo.encode())
        if ended:
            raise _ended_at(migration, Statement("", 1, 0, ""), ended)
        if failure is not None:
            return Statement("", 1, 0, ""), failure
        return None

    async def _ended_error(self, script: MigrationFile, to_run: Sequence[Statement],
                           tag: str, tags: Sequence[str], prefix: int) -> MigrationError:
        """The error for a file that ended its transaction in the one-message run, naming
        the statement the server read as several (asked with Parse alone, which runs
        nothing), or else the server's command that did it."""
        hiding = await asyncio.to_thread(_statement_hiding_commands, self._url, to_run)
        if hiding is not None:
            return _ended_at(script, hiding, tag)
        position = next((i - prefix + 1 for i, t in enumerate(tags)
                         if t == tag and i >= prefix), None)
        where = (f"the server ran it as the file's command number {position}"
                 if position else "at the end of the file")
        error = _ended_at(script, Statement("", 1, 0, ""), tag)
        error.error += f" ({where})"
        return error

    def _migration_error(self, migration: MigrationFile, statement: Statement,
                         failure: _Failure) -> MigrationError:
        error = failure.error
        if not statement.sql:  # not one of the file's statements
            error += (f"\n(while recording version {migration.version} in {HISTORY_TABLE}: "
                      f"that version is already recorded; give the file a new version)"
                      if failure.sqlstate == "23505" else
                      "\n(no statement of the file failed when they were run again one by "
                      "one: the failure did not recur)")
        return MigrationError(migration, statement.line, statement.sql, error,
                              failure.sqlstate)

    async def _after_lost_connection(self, migration: MigrationFile,
                                     exc: psycopg.OperationalError, *, applying: bool) -> None:
        """The connection died mid-transaction: find out from a new one whether the
        transaction committed (its history row tells), else stop the line."""
        reason = self._scrub(" ".join(str(exc).split()))
        what = "applying" if applying else "reverting"
        try:
            conn = await self._connection()
            cur = await conn.execute(f"SELECT to_regclass('{HISTORY_TABLE}') IS NOT NULL")
            row = await cur.fetchone()
            recorded = False
            if row and row[0]:
                cur = await conn.execute(
                    f"SELECT EXISTS (SELECT FROM {HISTORY_TABLE} WHERE version = %s)",
                    (migration.version,))
                row = await cur.fetchone()
                recorded = bool(row and row[0])
        except (DatabaseUnavailable, psycopg.OperationalError) as again:
            raise DatabaseUnavailable(
                f"lost the connection to {self._redacted} while {what} "
                f"{migration.relpath}, and cannot tell whether it committed: {reason}; "
                f"then: {self._scrub(' '.join(str(again).split()))}") from exc
        if recorded == applying:
            return  # it committed after all
        raise DatabaseUnavailable(
            f"lost the connection to {self._redacted} while {what} {migration.relpath} "
            f"(it was not committed): {reason}") from exc


class _DeploymentTransaction:
    """MigrationTransaction on the connection of PostgresDatabase.transaction, which holds
    the database's lock meanwhile. The transaction began with the migrations' timeouts and
    the marker the guard checks; each file runs in a savepoint released when it passed,
    each test file in a savepoint of a random name (a test cannot name it) rolled back."""

    def __init__(self, db: PostgresDatabase, conn: Conn) -> None:
        self._db = db
        self._conn = conn
        self.committing = False
        self.committed = False
        self.dropped = False  # the connection must be closed, not reused

    async def server_version_num(self) -> int:
        return self._conn.info.server_version

    async def fetch(self, query: str, params: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]:
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.encode(), params)
            return await cur.fetchall() if cur.description else []

    async def apply(self, migration: MigrationFile) -> None:
        parsed = split(migration.sql)
        _refuse(migration, parsed)
        history = await self._db._history_sql(self._conn)
        try:
            await self._db._run_script(self._conn, migration, parsed,
                                       _insert(migration, parsed), "", history,
                                       _IN_DEPLOYMENT)
        except MigrationError as exc:
            if exc.transaction_ended:
                self.dropped = True
            raise
        except asyncio.CancelledError:
            self._drop()
            raise

    def _drop(self) -> None:
        """Stopped mid-statement (a timeout): the server rolls back when the connection
        goes, and nothing else may use it."""
        self.dropped = True
        self._conn.pgconn.finish()

    async def run_rolled_back(self, statements: Sequence[str], *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0) -> RolledBackRun:
        conn = self._conn
        savepoint = f"deploybot_test_{secrets.token_hex(8)}"
        printed = _Printed()
        outputs = printed.outputs
        conn.add_notice_handler(printed.notice)
        try:
            await conn.execute(f"SAVEPOINT {savepoint};\n"
                               f"{_setup_sql(lock_timeout_ms, statement_timeout_ms)}".encode())
            result = RolledBackRun(outputs)
            for index, statement in enumerate(statements):
                cur = _TagCursor(conn)
                failure: _Failure | None = None
                try:
                    await _collect(cur, statement, printed.next())
                except psycopg.Error as exc:
                    if conn.closed or conn.broken:
                        raise
                    failure = _failure(exc)
                except asyncio.CancelledError:
                    self._drop()
                    raise
                finally:
                    if not conn.closed:
                        await cur.close()
                ended = _ended_by(cur.tags or [])
                if ended or conn.info.transaction_status not in (
                        TransactionStatus.INTRANS, TransactionStatus.INERROR):
                    self.dropped = True
                    raise TransactionLost(
                        f"a statement ended the transaction holding the migrations (the "
                        f"server ran {ended or 'a ROLLBACK or COMMIT'} "
                        f"deploybot did not see as a statement of its own): part of it may "
                        f"be committed", maybe_committed=True)
                if failure is not None:
                    result = RolledBackRun(outputs, index, failure.error, failure.sqlstate)
                    break
        finally:
            conn.remove_notice_handler(printed.notice)
        await self._back_to(savepoint)
        return result

    async def _back_to(self, savepoint: str) -> None:
        """Undo what the test did; the transaction must still be the one begun."""
        _, failure = await _send(self._conn, f"ROLLBACK TO SAVEPOINT {savepoint};\n"
                                             f"RELEASE SAVEPOINT {savepoint};\n{_GUARD}")
        status = self._conn.info.transaction_status
        if failure is not None or status != TransactionStatus.INTRANS:
            said = failure.error.splitlines()[0] if failure else "the transaction ended"
            raise TransactionLost(
                f"a test file left the savepoint it runs in (RELEASE or ROLLBACK TO of a "
                f"savepoint it did not make): what it changed can no longer be told apart "
                f"from the migrations ({said})",
                maybe_committed=status == TransactionStatus.IDLE)

    async def commit(self) -> None:
        self.committing = True
        tags, failure = await _send(self._conn, f"{_GUARD};\nCOMMIT;")
        if failure is not None or tags[-1:] != ["COMMIT"]:
            if self._conn.info.transaction_status != TransactionStatus.IDLE:
                await self._conn.execute(b"ROLLBACK")
            self.dropped = True
            raise TransactionLost(
                "the transaction holding the migrations is not the one deploybot began "
                f"({failure.error.splitlines()[0] if failure else 'it did not commit'}): "
                "part of it may have been committed earlier", maybe_committed=True)
        self.committed = True
