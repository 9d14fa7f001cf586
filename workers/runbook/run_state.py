"""What the steps of one run record for later steps, for undo and for the summary.

One typed field per thing recorded, so every read and write is checked. What must survive
the worker is also written to the deployment's journal (`DeployContext.journal`), from
which workers/recovery.py rebuilds the fields another worker's undo needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workers.drivers.interfaces import Backup, MigrationFile, Release

if TYPE_CHECKING:  # the runbook layer never imports the gates or steps at run time
    from workers.gates.facts import GateFacts
    from workers.gates.result import GateResult
    from workers.runbook.fingerprint import Fingerprint


@dataclass(frozen=True)
class RollbackTarget:
    """The deployment a rollback undoes, as the ledger recorded it."""

    id: int
    commit: str
    applied: list[str]  # versions of the migrations it applied, in the order applied
    release: int | None  # the function release it activated
    previous_release: int | None  # the release that was active before it
    backup: Backup | None  # the backup it took before its migrations


@dataclass
class RunState:
    # Deployment: set by the caller (worker or CLI) on production; read by gates and by
    # deploy.record_result (the checklist's source).
    gate_facts: GateFacts | None = None
    # gates writes the checklist as judged; deploy.record_result puts it in the ledger.
    gates: list[GateResult] = field(default_factory=list)
    # preflight writes the pending migrations (None: not looked yet); migrate applies
    # them, preflight's fingerprint and report's summary read them.
    pending: list[MigrationFile] | None = None
    # preflight's plan (one-line note, Markdown section), written and read by preflight.
    plan: tuple[str, str] | None = None
    # preflight / rollback-check take it before anything changes; their undo compares
    # the environment with it (fingerprint_check.verify); recovery rebuilds it.
    fingerprint: Fingerprint | None = None
    # backup writes the pre-deployment backup; migrate's and revert's undo restore it,
    # report's summary and deploy.record_result record it; recovery rebuilds it.
    backup: Backup | None = None
    # migrate writes what this run committed; its undo reverts it; report's summary
    # records it; recovery rebuilds it from the history.
    applied: list[MigrationFile] = field(default_factory=list)
    # migrate: the file being applied when the database went away; its undo settles it.
    migrate_in_doubt: MigrationFile | None = None
    # migrate: the file (or the one transaction) that ended the transaction it ran in, or
    # failed halfway outside one (part of it may be committed without a history row);
    # its undo then restores the backup.
    migrate_ended: str | None = None
    # migrate: the files of the one transaction from its start until its outcome is
    # known; its undo checks the history.
    migrate_batch_in_doubt: list[MigrationFile] | None = None
    # migrate: the summary of the pgTAP tests it ran before its commit; verify reports it
    # instead of running them again.
    tested_before_commit: str | None = None
    # functions writes the release active before it; its undo reactivates it; report's
    # summary records it; recovery rebuilds it.
    previous_release: Release | None = None
    # functions writes the release it published (before activating it); its undo runs
    # only when set; report's summary records it; recovery rebuilds it.
    new_release: Release | None = None
    # smoke writes the cleanup SQL of what its checks created; its undo runs it; for a
    # rollback, plans.prepare_rollback fills it from the target's journal for smoke-data.
    smoke_cleanup: list[str] = field(default_factory=list)
    # Rollback: plans.prepare_rollback sets the deployment to undo; rollback-check,
    # restore-release, report and the engine (its start event) read it.
    rollback_target: RollbackTarget | None = None
    # rollback-check writes the target's migrations still applied, newest first; revert
    # reverts them.
    to_revert: list[MigrationFile] = field(default_factory=list)
    # rollback-check writes the target's backup when it is their undo; revert restores it.
    restore_target_backup: Backup | None = None
    # revert writes what it undid; its undo restores the backup when there is any, and
    # report counts it.
    reverted: list[MigrationFile] = field(default_factory=list)
    # restore-release writes the release it replaced; its undo reactivates it, and report
    # says the functions are back.
    release_before_rollback: int | None = None
