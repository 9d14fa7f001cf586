"""Which steps a run takes: the runbook in order (DESIGN.md, "The runbook, automated"), and
the rollback of a deployment that succeeded earlier (`/rollback`, `deploybot rollback`).

The rollback backs up, reverts the deployment's migrations with their rollback scripts (or,
where one has none and the environment allows it, restores the backup the deployment took
before them), reactivates the function release that was active before it, and reports —
itself undone if it fails half-way."""

from __future__ import annotations

from service.config.model import EnvironmentConfig
from service.ledger import undoable
from service.ledger.deployments import Ledger
from workers.drivers.interfaces import Backup
from workers.runbook.run_state import RollbackTarget, RunState
from workers.runbook.step import Step
from workers.steps.backup import BACKUP
from workers.steps.functions import FUNCTIONS
from workers.steps.gates import GATES
from workers.steps.migrate import MIGRATE
from workers.steps.preflight import PREFLIGHT
from workers.steps.report import REPORT
from workers.steps.restore_release import RESTORE_RELEASE
from workers.steps.revert import REVERT
from workers.steps.rollback_check import ROLLBACK_CHECK
from workers.steps.smoke import SMOKE
from workers.steps.smoke_data import SMOKE_DATA
from workers.steps.verify import VERIFY


def deploy_steps(env: EnvironmentConfig | None = None) -> list[Step]:
    """The runbook; production starts with its pre-production checklist."""
    steps = [PREFLIGHT, BACKUP, MIGRATE, FUNCTIONS, VERIFY, SMOKE, REPORT]
    return [GATES, *steps] if env is not None and env.production else steps


class RollbackRefused(ValueError):
    """The deployment cannot be rolled back; the message says why and what to do."""


def rollback_steps() -> list[Step]:
    return [ROLLBACK_CHECK, BACKUP, SMOKE_DATA, REVERT, RESTORE_RELEASE, REPORT]


async def prepare_rollback(ledger: Ledger, target_id: int) -> tuple[list[Step], RunState]:
    """Steps and initial state for undoing deployment `target_id`."""
    target = await ledger.get(target_id)
    if target is None:
        raise RollbackRefused(f"there is no deployment #{target_id}")
    if (refused := await undoable.why_not(ledger, target)) is not None:
        raise RollbackRefused(refused.message)
    details = target["details"]
    journal = details.get("journal") or {}
    backup = journal.get("backup")
    state = RunState(rollback_target=RollbackTarget(
        id=target_id,
        commit=target["commit_sha"],
        applied=[a["version"] for a in details.get("applied", [])],
        release=release.get("id") if (release := details.get("release")) else None,
        previous_release=details.get("previous_release"),
        # The backup it took before its migrations: their undo where one has no script.
        backup=Backup.from_json(backup) if backup else None,
    ), smoke_cleanup=list(journal.get("smoke_cleanup") or []))
    return rollback_steps(), state
