"""The driver interfaces the runbook steps are written against."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from service.pgtools import PgTools
from workers.repository.migration_files import AppliedMigration as AppliedMigration
from workers.repository.migration_files import MigrationFile as MigrationFile


class MigrationError(Exception):
    """A statement of a migration failed; the transaction of that file was rolled back —
    unless `transaction_ended`: the file ended that transaction itself (a COMMIT or
    ROLLBACK the splitter did not see), so part of it may be committed and only the backup
    brings the database back."""

    def __init__(self, migration: MigrationFile, line: int, statement: str, error: str,
                 sqlstate: str | None = None, *, transaction_ended: bool = False,
                 outside_transaction: bool = False) -> None:
        super().__init__(f"{migration.relpath}:{line}: {error}")
        self.migration = migration
        self.line = line
        self.statement = statement
        self.error = error
        self.sqlstate = sqlstate
        self.transaction_ended = transaction_ended
        # The file runs outside a transaction (CREATE INDEX CONCURRENTLY): with
        # `transaction_ended`, statements before the failing one are committed.
        self.outside_transaction = outside_transaction


@dataclass(frozen=True)
class RolledBackRun:
    """What statements printed when run in a transaction that was rolled back."""

    # Per statement that ran, in order: every value of every row it returned, as text,
    # and the server's notices, in the order they came.
    outputs: list[list[str]]
    failed_at: int | None = None  # index of the statement that raised; the rest never ran
    error: str = ""
    sqlstate: str | None = None


class TransactionLost(Exception):
    """The deployment's transaction (Database.transaction) is no longer the one it began:
    a statement ended it or a test file left its savepoint. With `maybe_committed`, part of
    what it held may be committed (only the backup brings the database back); otherwise
    it was rolled back."""

    def __init__(self, message: str, *, maybe_committed: bool) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed


class MigrationTransaction(Protocol):
    """One transaction holding a deployment's migrations and its database tests: each file
    with its history row in a savepoint, each test file in a savepoint rolled back, and
    nothing committed unless `commit` is called (leaving the block rolls back)."""

    async def server_version_num(self) -> int: ...

    async def fetch(self, query: str, params: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]: ...

    async def apply(self, migration: MigrationFile) -> None:
        """Run the file and insert its history row (MigrationError; `transaction_ended`
        means the transaction may be partly committed)."""
        ...

    async def run_rolled_back(self, statements: Sequence[str], *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0) -> RolledBackRun:
        """Like Database.run_rolled_back, in a savepoint rolled back (TransactionLost when
        a statement escapes it)."""
        ...

    async def commit(self) -> None:
        """Commit, after checking the transaction is still the one begun (TransactionLost)."""
        ...


class DatabaseUnavailable(Exception):
    """The database could not be reached after bounded retries (a stop-the-line condition)."""


class Database(Protocol):
    """An environment's database."""

    @property
    def redacted_url(self) -> str: ...

    async def server_version_num(self) -> int: ...

    def tools(self, server_version_num: int) -> PgTools: ...

    def libpq_env(self) -> dict[str, str]:
        """Environment for psql/pg_dump/pg_restore: the connection, password included,
        travels in PG* variables so it never shows on a command line."""
        ...

    async def applied_migrations(self) -> list[AppliedMigration]: ...

    async def apply_migration(self, migration: MigrationFile, *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0, durable: bool = True) -> None:
        """Run the file and insert its history row in one transaction (MigrationError).
        `durable=False` lets the commit return before its WAL is flushed; a later durable
        commit on the same server makes it durable too (a batch's last file is durable)."""
        ...

    async def revert_migration(self, migration: MigrationFile, *, lock_timeout_ms: int) -> None:
        """Run the rollback script and delete the history row in one transaction."""
        ...

    async def fetch(self, query: str, params: dict[str, Any] | None = None,
                    *, role: str | None = None, claims: dict[str, Any] | None = None
                    ) -> list[dict[str, Any]]:
        """Run one query and return its rows; as `role` with JWT `claims` if given
        (in a transaction that is rolled back, for RLS checks)."""
        ...

    async def execute(self, statements: str) -> None:
        """Run trusted SQL (cleanup of smoke data), committed."""
        ...

    async def run_rolled_back(self, statements: Sequence[str], *, lock_timeout_ms: int,
                              statement_timeout_ms: int = 0) -> RolledBackRun:
        """Run the statements one by one in one transaction that is always rolled back,
        stopping at the first that fails (tests: nothing they do may stay)."""
        ...

    def transaction(self, *, lock_timeout_ms: int, statement_timeout_ms: int = 0
                    ) -> AbstractAsyncContextManager[MigrationTransaction]:
        """The deployment's one transaction (MigrationTransaction); DatabaseUnavailable
        when the connection is lost (before `commit`: rolled back by the server)."""
        ...

    async def connection_count(self) -> int: ...


@dataclass(frozen=True)
class Backup:
    location: str  # where the dump is (path or URL); no secrets
    size_bytes: int
    entries: int  # objects listed by pg_restore --list
    created_at: datetime
    server_version_num: int

    def to_json(self) -> dict[str, Any]:
        """As the journal keeps it (recovery and a later rollback read it back)."""
        return {"location": self.location, "size_bytes": self.size_bytes,
                "entries": self.entries, "created_at": self.created_at.isoformat(),
                "server_version_num": self.server_version_num}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Backup:
        return cls(location=data["location"], size_bytes=data["size_bytes"],
                   entries=data["entries"], created_at=datetime.fromisoformat(data["created_at"]),
                   server_version_num=data["server_version_num"])


class BackupStore(Protocol):
    async def create(self, db: Database, label: str) -> Backup:
        """Dump the database (pg_dump -Fc) and verify it reads back (pg_restore --list)."""
        ...

    async def restore(self, backup: Backup, db: Database) -> None:
        """Bring the database's schemas and data back to the backup's state."""
        ...


@dataclass(frozen=True)
class Release:
    id: int
    commit: str
    slugs: tuple[str, ...]
    created_at: datetime
    active: bool = False
    digest: str = ""  # sha256 of the bundle's content: equal digests, same functions


class FunctionsUnavailable(Exception):
    """The place that runs the functions refused or could not be reached (e.g. the Supabase
    Management API); the message names the fix."""


class FunctionReleases(Protocol):
    """Where an environment's edge-function releases live and which one is active."""

    async def active(self) -> Release | None: ...

    async def get(self, release_id: int) -> Release | None: ...

    async def publish(self, functions_dir: Path, commit: str) -> Release:
        """Store the functions at `commit` as a new, inactive release."""
        ...

    async def activate(self, release_id: int | None) -> None:
        """Make `release_id` the active release (None: no functions), atomically, and tell
        every function host to switch."""
        ...


class BackupError(Exception):
    """Making, reading or restoring a backup failed. The message says what, without secrets;
    `unreachable` tells that the database could not be reached (a stop-the-line condition)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable
