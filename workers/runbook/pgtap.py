"""Run pgTAP test files the way `supabase test db` does.

Each file runs in one transaction that is always rolled back: pgTAP is loaded inside it,
the file's statements run one by one, and what they print (TAP) is read with the line of
the statement that printed it, so a failing test is annotated where it is written.

pgTAP comes, in this order, from the database (installed there already, or available as
an extension: hosted Supabase has it), or from the SQL a package installed on this worker
(Debian's `postgresql-<major>-pgtap`). Either way it is loaded into a schema created in
the test's own transaction, which vanishes with the rollback: nothing stays, and no
superuser is needed (pgTAP's control file says `superuser = false`).

The files are run as SQL, not through psql: psql's meta-commands (its variables, `\\i`,
`\\!` shell commands) would let a pull request's test file run commands on the worker.
Those that only change psql's display (`\\pset`, `\\t`, `\\set QUIET`, …) are left out;
any other is refused with its line. A file's own BEGIN / COMMIT / ROLLBACK are left out
(the file already runs in a transaction that is rolled back: nothing it does can commit),
and so is its `CREATE EXTENSION pgtap` (pgTAP is already there).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workers.drivers.interfaces import RolledBackRun
from workers.repository.migration_files import is_transaction_abort, is_transaction_control
from workers.repository.sql_split import Statement, split
from workers.runbook import tap
from workers.runbook.events import Annotation

TEST_SUFFIXES = (".sql", ".pg")  # what `supabase test db` (pg_prove) picks up
# Where Debian's postgresql-<major>-pgtap puts the extension's SQL.
PACKAGE_DIRS = (Path("/usr/share/postgresql"),)
HOW_TO_GET = ("pgTAP is neither available in the database nor installed on this worker: "
              "install it on the server (`CREATE EXTENSION pgtap` must work; hosted Supabase "
              "has it), or on the worker (`apt-get install postgresql-15-pgtap`, any "
              "major version)")

_META = re.compile(r"^\s*\\([A-Za-z!?+]*)\s*(.*)$")
# Meta-commands that change only how psql shows results or reacts to errors.
_DISPLAY_META = {"pset", "t", "a", "x", "timing", "encoding", "C"}
_PSQL_BEHAVIOUR_VARS = {"ON_ERROR_STOP", "ON_ERROR_ROLLBACK", "QUIET", "ECHO", "ECHO_HIDDEN",
                        "VERBOSITY", "SHOW_CONTEXT", "AUTOCOMMIT", "FETCH_COUNT"}
_PGTAP_EXTENSION = re.compile(
    r"^(?:create\s+extension\s+(?:if\s+not\s+exists\s+)?|drop\s+extension\s+"
    r"(?:if\s+exists\s+)?)\"?pgtap\"?(?:\s|$)", re.IGNORECASE)
_PGTAP_FUNCTION = re.compile(r"function (?:\w+\.)?(plan|no_plan|finish|ok|is|isnt|"
                             r"results_eq|throws_ok|lives_ok|has_\w+|policies_are)\(")
_PACKAGE_FILE = re.compile(r"^pgtap--(\d+(?:\.\d+)*)\.sql$")


class TestDatabase(Protocol):
    """Where test files run: the environment's database (each file in a transaction rolled
    back), or the deployment's migration transaction (each in a savepoint rolled back)."""

    async def server_version_num(self) -> int: ...

    async def fetch(self, query: str, params: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]: ...

    async def run_rolled_back(self, statements: Sequence[str], *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0) -> RolledBackRun: ...


@dataclass(frozen=True)
class PgTapSource:
    """Where pgTAP comes from for a run."""

    kind: str  # "installed", "extension", "package" or "none"
    schema: str = ""  # installed: the schema that holds it
    version: str = ""
    package_sql: Path | None = None
    package_text: str = field(default="", repr=False)

    def describe(self) -> str:
        return {
            "installed": f"pgTAP {self.version} installed in the database ({self.schema})",
            "extension": f"pgTAP {self.version} from the server's extensions",
            "package": f"pgTAP {self.version} from this worker's package",
            "none": "no pgTAP",
        }[self.kind]

    def setup(self, schema: str) -> list[str]:
        """Statements that make pgTAP callable in the transaction, in `schema` (created
        there, so it goes with the rollback) unless the database has it installed."""
        if self.kind == "installed":
            return [_append_to_search_path(self.schema)]
        if self.kind == "none":
            return []
        # USAGE for every role: tests switch to anon / authenticated like PostgREST does.
        made = [f"CREATE SCHEMA {_ident(schema)}",
                f"GRANT USAGE ON SCHEMA {_ident(schema)} TO PUBLIC"]
        # EXECUTE for every role as well: the functions are created by the owner, so its
        # default privileges apply to them, and Supabase migrations often revoke EXECUTE
        # on new functions from PUBLIC (ALTER DEFAULT PRIVILEGES): `set local role
        # authenticated` would then leave a test unable to call ok() or results_eq().
        callable_by_all = f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {_ident(schema)} TO PUBLIC"
        if self.kind == "extension":
            return [*made, f"CREATE EXTENSION pgtap WITH SCHEMA {_ident(schema)}",
                    callable_by_all, _append_to_search_path(schema)]
        # The packaged SQL creates its objects in the first schema of the search path.
        return [*made,
                "SELECT set_config('deploybot.search_path', current_setting('search_path'), "
                "true)",
                f"SELECT set_config('search_path', {_literal(_ident(schema))}, true)",
                self.package_text, callable_by_all,
                "SELECT set_config('search_path', current_setting('deploybot.search_path') "
                f"|| ', ' || {_literal(_ident(schema))}, true)"]


def _append_to_search_path(schema: str) -> str:
    return ("SELECT set_config('search_path', current_setting('search_path') || ', ' || "
            f"{_literal(_ident(schema))}, true)")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def packaged_sql(server_major: int, dirs: tuple[Path, ...] = PACKAGE_DIRS) -> Path | None:
    """The newest full install script of pgTAP a package put on this worker, preferring the
    server's own major version (any major's SQL loads: pgTAP is plain SQL and PL/pgSQL)."""
    found: list[tuple[bool, int, tuple[int, ...], Path]] = []
    for base in dirs:
        for path in base.glob("*/extension/pgtap--*.sql"):
            m = _PACKAGE_FILE.match(path.name)
            if m is None or not path.parent.parent.name.isdigit():
                continue  # an upgrade script (pgtap--1.1.0--1.2.0.sql)
            major = int(path.parent.parent.name)
            found.append((major == server_major, major,
                          tuple(int(p) for p in m.group(1).split(".")), path))
    return max(found)[3] if found else None


def _package_version(path: Path) -> str:
    m = _PACKAGE_FILE.match(path.name)
    return m.group(1) if m else "?"


async def locate(db: TestDatabase, *, package: Path | None = None) -> PgTapSource:
    """Where pgTAP comes from for `db`; `package` names the packaged SQL to use instead
    of the server's extension."""
    if package is None:
        installed = await _in_database(db)
        if installed is not None:
            return installed
        package = packaged_sql(await db.server_version_num() // 10000)
    if package is None:
        return PgTapSource("none")
    return PgTapSource("package", version=_package_version(package), package_sql=package,
                       package_text=await asyncio.to_thread(package.read_text))


async def _in_database(db: TestDatabase) -> PgTapSource | None:
    rows = await db.fetch(
        "SELECT e.extversion AS version, n.nspname AS schema FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgtap'")
    if rows:
        return PgTapSource("installed", schema=str(rows[0]["schema"]),
                           version=str(rows[0]["version"]))
    rows = await db.fetch("SELECT default_version AS version FROM pg_available_extensions "
                          "WHERE name = 'pgtap'")
    if rows:
        return PgTapSource("extension", version=str(rows[0]["version"]))
    return None


def test_files(root: Path, relpath: str) -> list[Path]:
    """The test files at `relpath`: the file itself, or every test file below the
    directory in path order; files that lead outside the repository are left out."""
    target = root / relpath
    if target.is_file():
        candidates = [target]
    elif target.is_dir():
        candidates = sorted((p for p in target.rglob("*") if p.suffix in TEST_SUFFIXES),
                            key=lambda p: p.relative_to(target).as_posix())
    else:
        return []
    inside = root.resolve()
    return [p for p in candidates if p.is_file() and p.resolve().is_relative_to(inside)]


@dataclass
class Prepared:
    statements: list[Statement] = field(default_factory=list)
    refused: tuple[int, str] | None = None  # (line, why) for a file that cannot run
    left_out: list[str] = field(default_factory=list)  # what was not run, for the log


def prepare(text: str, *, pgtap_provided: bool) -> Prepared:
    """The statements of a test file to run, in order, each with its line."""
    out = Prepared()
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        m = _META.match(line)
        if m is None:
            continue
        command, rest = m.group(1), m.group(2).strip()
        variable = rest.split(maxsplit=1)[0] if rest else ""
        harmless = command in _DISPLAY_META or (
            command in ("set", "unset") and variable in _PSQL_BEHAVIOUR_VARS)
        if not harmless:
            out.refused = (number, (
                f"psql meta-command `\\{command}` (line {number}): test files run as SQL, "
                f"without psql's variables, includes or shell commands; write it in SQL "
                f"(set_config, a temporary table, a function)"))
            return out
        out.left_out.append(f"line {number}: `{line.strip()}` (psql display setting)")
        lines[number - 1] = "\n"  # keep the line numbers of everything after it
    parsed = split("".join(lines))
    if parsed.unterminated:
        out.refused = (parsed.unterminated_line,
                       f"unterminated {parsed.unterminated}: it runs to the end of the file")
        return out
    for s in parsed.statements:
        if is_transaction_control(s.sql) or is_transaction_abort(s.sql):
            continue  # the file runs in a transaction of ours, rolled back at its end
        if pgtap_provided and _PGTAP_EXTENSION.match(s.sql):
            out.left_out.append(f"line {s.line}: `{s.sql.splitlines()[0]}` (pgTAP is loaded "
                                f"already)")
            continue
        out.statements.append(s)
    return out


@dataclass
class FileResult:
    relpath: str
    report: tap.TapReport
    error: tuple[int, str] | None = None  # (line, message): the statement that failed
    left_out: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and self.report.passed

    def problems(self) -> list[str]:
        out = [f"{self.relpath}:{t.source_line or 1}: {t.failure()}"
               for t in self.report.failures]
        out += [f"{self.relpath}: {p}" for p in self.report.problems(failures=False)]
        if self.error is not None:
            out.append(f"{self.relpath}:{self.error[0]}: {self.error[1]}")
        return out

    def annotations(self) -> list[Annotation]:
        found = [Annotation(self.relpath, t.source_line or 1, _failure_text(t),
                            f"pgTAP test {t.number} failed") for t in self.report.failures]
        if self.error is not None:
            found.append(Annotation(self.relpath, self.error[0], self.error[1],
                                    "pgTAP file stopped"))
        elif not self.report.passed and not found:
            found.append(Annotation(self.relpath, 1, "; ".join(self.report.problems()),
                                    "pgTAP file failed"))
        return found


def _failure_text(test: tap.TapTest) -> str:
    parts = [f"not ok {test.number} - {test.name}" + (f" # {test.reason}" if test.reason
                                                       else "")]
    parts += [d for d in test.diagnostics if not d.startswith("Looks like")]
    return "\n".join(parts)


@dataclass(frozen=True)
class Seed:
    """SQL every test file's transaction runs first (paths.test_seed)."""

    relpath: str
    statements: list[Statement]


def prepare_seed(relpath: str, text: str) -> Seed:
    """The seed's statements (its own BEGIN/COMMIT left out); ValueError naming the line
    when it cannot run."""
    prepared = prepare(text, pgtap_provided=True)
    if prepared.refused is not None:
        line, why = prepared.refused
        raise ValueError(f"{relpath}:{line}: {why}")
    return Seed(relpath, prepared.statements)


async def run_file(db: TestDatabase, root: Path, path: Path, source: PgTapSource, *,
                   lock_timeout_ms: int, statement_timeout_ms: int = 0,
                   seed: Seed | None = None) -> FileResult:
    """Run one test file in a transaction that is rolled back (DatabaseUnavailable when
    the database is lost), after the seed's statements when there is one."""
    relpath = path.relative_to(root).as_posix()
    text = await asyncio.to_thread(path.read_text, errors="replace")
    prepared = prepare(text, pgtap_provided=source.kind != "none")
    if prepared.refused is not None:
        return FileResult(relpath, tap.TapReport(), prepared.refused, prepared.left_out)
    # A fresh name per run: two runs never wait on each other's uncommitted schema.
    setup = source.setup(f"_deploybot_pgtap_{secrets.token_hex(6)}")
    seeded = seed.statements if seed is not None else []
    run = await db.run_rolled_back(
        [*setup, *(s.sql for s in seeded), *(s.sql for s in prepared.statements)],
        lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms)
    if run.failed_at is not None and run.failed_at < len(setup):
        return FileResult(relpath, tap.TapReport(),
                          (1, f"could not load {source.describe()}: {run.error}"),
                          prepared.left_out)
    if seed is not None and run.failed_at is not None and run.failed_at < len(setup) + len(
            seeded):
        at = seeded[run.failed_at - len(setup)].line
        return FileResult(relpath, tap.TapReport(),
                          (1, f"the test seed {seed.relpath} failed at its line {at}: "
                              f"{run.error}"), prepared.left_out)
    setup = [*setup, *(s.sql for s in seeded)]  # what came before the file's statements
    outputs = run.outputs[len(setup):]
    statements = prepared.statements
    report = tap.parse_located((text, statements[i].line)
                               for i, printed in enumerate(outputs) for text in printed)
    _point_at_descriptions(report, statements)
    error = None
    if run.failed_at is not None:
        failed = statements[run.failed_at - len(setup)]
        message = run.error
        if source.kind == "none" and run.sqlstate == "42883" and _PGTAP_FUNCTION.search(
                message):
            message += f"\n{HOW_TO_GET}"
        error = (failed.line, message)
    return FileResult(relpath, report, error, prepared.left_out)


def _point_at_descriptions(report: tap.TapReport, statements: list[Statement]) -> None:
    """Point each test at the line of its statement that holds its description (an SQL
    literal) when it is written there whole, else at the statement's first line."""
    starts = {s.line: s for s in statements}
    for test in report.tests:
        statement = starts.get(test.source_line or 0)
        needle = test.name.replace("'", "''")
        if statement is None or not needle:
            continue
        lines = statement.sql.splitlines()
        at = next((i for i, text in enumerate(lines) if f"'{needle}'" in text), None)
        if at is None:  # written as a prefix, the rest computed: 'name: ' || what
            at = next((i for i, text in enumerate(lines) if needle in text), None)
        if at is not None:
            test.source_line = statement.line + at
