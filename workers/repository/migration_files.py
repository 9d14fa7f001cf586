"""Find the repository's migrations and say what is wrong with them before anything runs.

Names follow the Supabase CLI rule `^([0-9]+)_(.*)\\.sql$`: the version is the leading
digits, and the CLI keeps its history in `supabase_migrations.schema_migrations` keyed by
that version. A rollback lives at `<paths.rollbacks>/<same file name>`; a rollback that has
nothing to undo must say so with the line `-- deploybot:rollback no-op`.

A problem blocks the deployment unless it is a warning: a pending migration older than
the latest applied one is still applied, like `supabase db push --include-all`, and a
file's own BEGIN/COMMIT are ignored (the file runs in one transaction anyway); both warn.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.config.model import Paths
from workers.repository.sql_split import Statement, normalise, split

NAME_RULE = re.compile(r"^([0-9]+)_(.*)\.sql$")
NOOP_MARKER = "-- deploybot:rollback no-op"
HISTORY_TABLE = "supabase_migrations.schema_migrations"

# Statements PostgreSQL refuses inside a transaction block. Those that change only the
# project's own database (index builds, vacuum) run outside one: the file is applied
# statement by statement and the deployment falls back to committing each file. The others
# reach beyond the database, where neither a rollback script's transaction nor the backup
# can undo them: refused.
_OUTSIDE_TRANSACTION = re.compile(
    r"^(?:create\s+(?:unique\s+)?index\s+concurrently|drop\s+index\s+concurrently"
    r"|reindex\b.*\bconcurrently|vacuum\b)",
    re.IGNORECASE | re.DOTALL,
)
_NOT_IN_TRANSACTION = re.compile(
    r"^(?:alter\s+system\b|create\s+database\b"
    r"|drop\s+database\b|create\s+tablespace\b|drop\s+tablespace\b)",
    re.IGNORECASE | re.DOTALL,
)
# A statement that starts with BEGIN is always a transaction's start (a PL/pgSQL BEGIN
# lives inside a quoted body, BEGIN ATOMIC inside CREATE FUNCTION).
_TRANSACTION_CONTROL = re.compile(
    r"^(?:(?:begin|start\s+transaction)\b.*"
    r"|(?:commit|end)(?:\s+(?:work|transaction))?(?:\s+and\s+(?:no\s+)?chain)?\s*)$",
    re.IGNORECASE | re.DOTALL,
)
# COMMIT / ROLLBACK as a statement of a PL/pgSQL body (not ROLLBACK TO SAVEPOINT).
_BODY_TRANSACTION_CONTROL = re.compile(
    r"(?:^|[;\s])(commit|rollback)(?:\s+(?:work|transaction))?(?:\s+and\s+(?:no\s+)?chain)?"
    r"\s*;", re.IGNORECASE)
_DO_BLOCK = re.compile(r"^do\b", re.IGNORECASE)
_PROCEDURE = re.compile(r"^create\s+(?:or\s+replace\s+)?procedure\s+([\w.\"$]+)",
                        re.IGNORECASE)
_CALL = re.compile(r"^call\s+([\w.\"$]+)", re.IGNORECASE)
# Settings that change how the server reads the text after them (see sql_split).
_LEXICAL_SETTING = re.compile(r"\b(standard_conforming_strings|client_encoding)\b",
                              re.IGNORECASE)
_TRANSACTION_ABORT = re.compile(
    r"^(?:rollback|abort)(?:\s+(?:work|transaction))?(?:\s+and\s+(?:no\s+)?chain)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MigrationFile:
    """A migration in the repository: `<version>_<name>.sql` (Supabase CLI rule)."""

    version: str
    name: str
    path: Path  # absolute path in the source tree
    relpath: str  # path inside the repository, for messages and annotations
    sql: str
    rollback_path: Path | None = None
    rollback_relpath: str | None = None
    rollback_sql: str | None = None
    rollback_noop: bool = False  # the rollback file is an explicit no-op


@dataclass(frozen=True)
class AppliedMigration:
    version: str
    name: str | None
    statements: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LintProblem:
    path: str  # inside the repository
    line: int  # 1-based; 1 when the problem is about the whole file
    message: str  # names the problem and the fix
    warning: bool = False  # a warning is shown; anything else blocks the deployment

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"


class MigrationSet(list[MigrationFile]):
    """The migrations found, in version order, plus what discovery found wrong with the
    directory (bad names, unreadable files); `lint` reports both."""

    def __init__(self, files: Iterable[MigrationFile] = (),
                 problems: Iterable[LintProblem] = (), *,
                 folder: str = "migrations", rollbacks: str = "migrations/rollback") -> None:
        super().__init__(files)
        self.problems = list(problems)
        self.folder = folder  # the migrations directory inside the repository
        self.rollbacks = rollbacks  # the rollbacks directory inside the repository


def outside_transaction(migration: MigrationFile) -> Statement | None:
    """The first statement of the file that cannot run inside a transaction block (and that
    deploybot runs outside one), or None: the file can join the deployment's transaction."""
    return next((s for s in split(migration.sql).statements
                 if _OUTSIDE_TRANSACTION.match(s.sql)), None)


def is_transaction_control(statement: str) -> bool:
    """BEGIN / START TRANSACTION / COMMIT / END: redundant in a file we run in one
    transaction, and harmful if run (COMMIT would commit without the history row)."""
    return bool(_TRANSACTION_CONTROL.match(_without_comments(statement)))


def is_transaction_abort(statement: str) -> bool:
    """ROLLBACK / ABORT (not ROLLBACK TO SAVEPOINT): would throw away the file's own
    transaction halfway; such a file is refused."""
    return bool(_TRANSACTION_ABORT.match(_without_comments(statement)))


def _without_comments(statement: str) -> str:
    # `COMMIT /* done */` is a COMMIT too.
    return normalise(statement) if "--" in statement or "/*" in statement else statement


def version_key(version: str) -> tuple[int, int, str]:
    """Numeric order of versions (history rows made by hand may hold anything else;
    those sort last)."""
    return (0, int(version), version) if version.isdigit() else (1, 0, version)


def discover(root: Path, migrations: str = Paths.migrations,
             rollbacks: str = Paths.rollbacks) -> MigrationSet:
    """The migrations in `<root>/<migrations>` (files, not subdirectories), each with its
    rollback `<root>/<rollbacks>/<same name>` when there is one."""
    mdir = root / migrations
    rdir = root / rollbacks
    files: list[MigrationFile] = []
    problems: list[LintProblem] = []
    folder, rollbacks = migrations.strip("/"), rollbacks.strip("/")
    if not mdir.is_dir():
        return MigrationSet([], [], folder=folder, rollbacks=rollbacks)
    for path in sorted(p for p in mdir.iterdir() if p.is_file()):
        relpath = _rel(path, root)
        m = NAME_RULE.match(path.name)
        if m is None:
            if path.name.lower().endswith(".sql"):
                problems.append(LintProblem(relpath, 1, (
                    f"{path.name} does not match the Supabase CLI's migration name rule "
                    f"<version>_<name>.sql (version = leading digits), so `supabase db push` "
                    f"would skip it without a word; rename it like "
                    f"{_example_name(path.name)}")))
            continue
        sql = _read(path, relpath, problems)
        if sql is None:
            continue
        rollback_path = rdir / path.name
        rollback_sql = None
        rollback_relpath = None
        noop = False
        if rollback_path.is_file():
            rollback_relpath = _rel(rollback_path, root)
            rollback_sql = _read(rollback_path, rollback_relpath, problems)
            if rollback_sql is not None:
                noop = not split(rollback_sql).statements and has_noop_marker(rollback_sql)
        files.append(MigrationFile(
            version=m.group(1), name=m.group(2), path=path, relpath=relpath, sql=sql,
            rollback_path=rollback_path if rollback_relpath else None,
            rollback_relpath=rollback_relpath, rollback_sql=rollback_sql, rollback_noop=noop,
        ))
    if rdir.is_dir():
        names = {f.path.name for f in files}
        for path in sorted(p for p in rdir.iterdir() if p.is_file()):
            if path.name.lower().endswith(".sql") and path.name not in names:
                problems.append(LintProblem(_rel(path, root), 1, (
                    f"rollback {path.name} has no migration of the same name in "
                    f"{folder}/; rename it after the migration it undoes, or "
                    f"delete it"), warning=True))
    files.sort(key=lambda f: (version_key(f.version), f.path.name))
    return MigrationSet(files, problems, folder=folder, rollbacks=rollbacks)


def has_noop_marker(sql: str) -> bool:
    return any(line.strip().lower() == NOOP_MARKER for line in sql.splitlines())


def pending(migrations: Sequence[MigrationFile],
            applied: Sequence[AppliedMigration]) -> list[MigrationFile]:
    """Migrations whose version is not in the history, in version order — including those
    older than the latest applied one (`supabase db push --include-all`; lint warns)."""
    done = {a.version for a in applied}
    todo = [m for m in migrations if m.version not in done]
    return sorted(todo, key=lambda m: (version_key(m.version), m.path.name))


def lint(migrations: Sequence[MigrationFile], applied: Sequence[AppliedMigration], *,
         require_rollbacks: bool = True) -> list[LintProblem]:
    """Everything that would make applying (or later undoing) these migrations go wrong.
    Without `require_rollbacks` (the environment accepts the verified backup as the undo),
    a missing rollback script is a warning."""
    folder = getattr(migrations, "folder", "migrations")
    rollbacks = getattr(migrations, "rollbacks", "migrations/rollback")
    problems: list[LintProblem] = list(getattr(migrations, "problems", []))
    problems += _duplicate_versions(migrations)
    applied_by_version = {a.version: a for a in applied}
    todo = pending(migrations, applied)
    latest = max((a.version for a in applied if a.version.isdigit()), key=version_key,
                 default=None)
    for m in migrations:
        done = applied_by_version.get(m.version)
        if done is not None:
            problems += _changed_since_applied(m, done)
    committing = _committing_procedures(todo)
    for m in todo:
        if m.version in applied_by_version:
            continue  # a duplicate version; reported above
        problems += _rollback_problems(m, rollbacks, require_rollbacks)
        problems += _statement_problems(m, committing)
        if latest is not None and version_key(m.version) < version_key(latest):
            problems.append(LintProblem(m.relpath, 1, (
                f"version {m.version} sorts before {latest}, the latest applied version: "
                f"it will still be applied, out of order (like `supabase db push "
                f"--include-all`); make sure it does not depend on later migrations, or "
                f"rename it with a version after {latest}"), warning=True))
    problems += _missing_files(migrations, applied, folder)
    return problems


def _duplicate_versions(migrations: Sequence[MigrationFile]) -> list[LintProblem]:
    groups: dict[str, list[MigrationFile]] = defaultdict(list)
    for m in migrations:
        groups[m.version].append(m)
    problems = []
    for version, group in groups.items():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda m: m.path.name)
        names = ", ".join(m.path.name for m in group)
        renames = ", ".join(f"{m.path.name} → {_unique_name(m, k)}"
                            for k, m in enumerate(group, 1))
        for m in group[1:]:
            problems.append(LintProblem(m.relpath, 1, (
                f"duplicate migration version {version}: the Supabase CLI takes the leading "
                f"digits of the file name as the version, so {names} all get version "
                f"{version}, and the second one fails on the primary key of {HISTORY_TABLE}; "
                f"give every file a unique 14-digit version (rename their rollbacks too): "
                f"{renames}")))
    return problems


def _unique_name(m: MigrationFile, k: int) -> str:
    seq = re.match(r"^([0-9]+)_(.+)$", m.name)
    if len(m.version) == 8 and seq:  # 20260107_001_x → 20260107000001_x
        return f"{m.version}{int(seq.group(1)):06d}_{seq.group(2)}.sql"
    if len(m.version) < 14:
        return f"{m.version}{k:0{14 - len(m.version)}d}_{m.name}.sql"
    return f"<a unique version>_{m.name}.sql"


def _example_name(filename: str) -> str:
    stem = re.sub(r"\.sql$", "", filename, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_").lower() or "migration"
    return f"20260107000001_{stem}.sql (a unique 14-digit version, e.g. a UTC timestamp)"


def _changed_since_applied(m: MigrationFile, done: AppliedMigration) -> list[LintProblem]:
    if not done.statements:
        return []  # history rows made by `migration repair` carry no statements
    ours = split(m.sql).statements
    theirs = [normalise(s) for s in done.statements]
    theirs = [s for s in theirs if s]
    mine = [normalise(s.sql) for s in ours]
    if mine == theirs:
        return []
    index = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b),
                 min(len(mine), len(theirs)))
    line = ours[index].line if index < len(ours) else (ours[-1].line if ours else 0)
    return [LintProblem(m.relpath, line, (
        f"{m.relpath} was changed after it was applied to this database (statement "
        f"{index + 1} differs from the one recorded in {HISTORY_TABLE}); an applied "
        f"migration is never run again, so the change would never reach the database: "
        f"restore the file as it was applied and put the change in a new migration"))]


def _rollback_problems(m: MigrationFile, rollbacks: str, required: bool
                       ) -> list[LintProblem]:
    if m.rollback_sql is None and not required:
        return [LintProblem(m.relpath, 1, (
            f"pending migration {m.path.name} has no rollback script: if the deployment "
            f"fails, its undo restores the verified backup taken before it (add "
            f"{rollbacks}/{m.path.name} for an undo that keeps data written meanwhile)"),
            warning=True)]
    if m.rollback_sql is None:
        return [LintProblem(m.relpath, 1, (
            f"pending migration {m.path.name} has no rollback: add "
            f"{rollbacks}/{m.path.name} with the SQL that undoes it, or, if there is "
            f"nothing to undo, with the line `{NOOP_MARKER}` (or let this environment "
            f"accept the verified backup as the undo: `rollback_scripts: backup`)"))]
    where = m.rollback_relpath or m.relpath
    has_sql = bool(split(m.rollback_sql).statements)
    if not has_sql and not m.rollback_noop:
        return [LintProblem(where, 1, (
            f"empty rollback without the no-op marker: {where} has no statement; write the "
            f"SQL that undoes {m.path.name}, or add the line `{NOOP_MARKER}` to say there "
            f"is nothing to undo"))]
    if has_sql and has_noop_marker(m.rollback_sql):
        return [LintProblem(where, 1, (
            f"{where} has the no-op marker but also statements, which will run on rollback; "
            f"remove the marker (or the statements)"), warning=True)]
    return []


def _routine_name(name: str) -> str:
    return name.replace('"', "").lower().rsplit(".", 1)[-1]


def _committing_procedures(migrations: Sequence[MigrationFile]) -> set[str]:
    """Names of the procedures these migrations create whose body commits or rolls back."""
    names: set[str] = set()
    for m in migrations:
        for s in split(m.sql).statements:
            found = _PROCEDURE.match(s.sql)
            if found and _BODY_TRANSACTION_CONTROL.search(s.sql):
                names.add(_routine_name(found.group(1)))
    return names


def _statement_problems(m: MigrationFile, committing: Collection[str] = ()
                        ) -> list[LintProblem]:
    result = split(m.sql)
    problems: list[LintProblem] = []
    if result.unterminated:
        problems.append(LintProblem(m.relpath, result.unterminated_line, (
            f"unterminated {result.unterminated}: it runs to the end of the file; close it")))
    for s in result.statements:
        problems += _statement_problem(m, s, committing)
    return problems


def _statement_problem(m: MigrationFile, s: Statement, committing: Collection[str]
                       ) -> list[LintProblem]:
    """What is wrong with one statement: the lint names it at its line."""
    ends = _BODY_TRANSACTION_CONTROL.search(s.sql)
    if ends and _DO_BLOCK.match(s.sql):
        return [LintProblem(m.relpath, s.line, (
            f"`{_head(s.sql)} …` runs {ends.group(1).upper()} inside a DO block: a "
            f"migration file runs in one transaction with its history row, which a DO block "
            f"may not end (the server refuses it); move the transaction control out of the "
            f"block"))]
    procedure = _PROCEDURE.match(s.sql)
    if ends and procedure:
        return [LintProblem(m.relpath, s.line, (
            f"procedure {procedure.group(1)} runs {ends.group(1).upper()}: calling it from a "
            f"migration fails, as a migration file runs in one transaction with its history "
            f"row; call it outside the migrations"), warning=True)]
    call = _CALL.match(s.sql)
    if call and _routine_name(call.group(1)) in committing:
        return [LintProblem(m.relpath, s.line, (
            f"`{_head(s.sql)}` calls a procedure that commits or rolls back, which would end "
            f"the transaction the file runs in (the server refuses it); call it outside "
            f"the migrations"))]
    setting = _LEXICAL_SETTING.search(s.sql)
    if setting:
        return [LintProblem(m.relpath, s.line, (
            f"`{_head(s.sql)} …` changes {setting.group(1).lower()}, which changes how the "
            f"server reads the text after it: deploybot and the server would no longer agree "
            f"where each statement ends (a COMMIT could hide in what looks like a string); "
            f"remove it"))]
    if _NOT_IN_TRANSACTION.match(s.sql):
        return [LintProblem(m.relpath, s.line, (
            f"`{_head(s.sql)}` cannot run inside a transaction block and reaches beyond the "
            f"project's database, where no rollback script or backup undoes it; do it "
            f"outside the migrations"))]
    if _OUTSIDE_TRANSACTION.match(s.sql):
        return [LintProblem(m.relpath, s.line, (
            f"`{_head(s.sql)}` cannot run inside a transaction block: {m.path.name} is "
            f"applied statement by statement, each committed as it runs, and this "
            f"deployment falls back to committing each file (the pgTAP tests run after the "
            f"commit, and the undo is the rollback scripts or the verified backup instead "
            f"of a rollback that needs neither); use the non-concurrent form to keep it"),
            warning=True)]
    if is_transaction_abort(s.sql):
        return [LintProblem(m.relpath, s.line, (
            f"`{s.sql}` would abort the transaction the file runs in, halfway through, and "
            f"the file is refused; remove it (ROLLBACK TO SAVEPOINT is fine)"))]
    if is_transaction_control(s.sql):
        return [LintProblem(m.relpath, s.line, (
            f"`{s.sql}` is ignored: each migration file already runs in one transaction "
            f"with its history row; remove it"), warning=True)]
    return []


def _missing_files(migrations: Sequence[MigrationFile],
                   applied: Sequence[AppliedMigration], folder: str) -> list[LintProblem]:
    present = {m.version for m in migrations}
    problems = []
    for a in sorted(applied, key=lambda a: version_key(a.version)):
        if a.version in present:
            continue
        label = f"{a.version}_{a.name}.sql" if a.name else f"version {a.version}"
        problems.append(LintProblem(folder, 1, (
            f"{label} is recorded as applied in {HISTORY_TABLE} but is not in this commit: "
            f"the database is ahead of the repository; deploy a commit that contains it, or, "
            f"if it was removed on purpose, undo it and delete its history row "
            f"(`supabase migration repair --status reverted {a.version}`)")))
    return problems


def _head(sql: str) -> str:
    words = sql.split()
    return " ".join(words[:4])


def _read(path: Path, relpath: str, problems: list[LintProblem]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(LintProblem(relpath, 1, (
            f"{relpath} is not valid UTF-8 ({exc.reason} at byte {exc.start}); save it as "
            f"UTF-8")))
    except OSError as exc:
        problems.append(LintProblem(relpath, 1, f"cannot read {relpath}: {exc.strerror}; "
                                    f"check the file"))
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
