"""The runbook's rollback plan for a deployment that succeeded earlier (`/rollback`,
`deploybot rollback`): back up, revert its migrations with their rollback scripts (or,
where one has none and the environment allows it, restore the backup the deployment took
before them), reactivate the function release that
was active before it, and report — itself undone if it fails half-way."""

from __future__ import annotations

from typing import Any

from service.ledger.deployments import Ledger
from workers.runbook.step import Step
from workers.steps.backup import BACKUP
from workers.steps.report import REPORT
from workers.steps.restore_release import RESTORE_RELEASE
from workers.steps.revert import REVERT
from workers.steps.rollback_check import ROLLBACK_CHECK
from workers.steps.smoke_data import SMOKE_DATA


class RollbackRefused(ValueError):
    """The deployment cannot be rolled back; the message says why and what to do."""


def rollback_steps() -> list[Step]:
    return [ROLLBACK_CHECK, BACKUP, SMOKE_DATA, REVERT, RESTORE_RELEASE, REPORT]


async def prepare_rollback(ledger: Ledger, target_id: int) -> tuple[list[Step], dict[str, Any]]:
    """Steps and initial state for undoing deployment `target_id`."""
    target = await ledger.get(target_id)
    if target is None:
        raise RollbackRefused(f"there is no deployment #{target_id}")
    if target["kind"] != "deploy" or target["status"] != "succeeded":
        raise RollbackRefused(f"deployment #{target_id} is a {target['kind']} that "
                              f"{target['status']}: only a deployment that succeeded is undone")
    if target["details"].get("rolled_back_by"):
        raise RollbackRefused(f"deployment #{target_id} was already rolled back by "
                              f"#{target['details']['rolled_back_by']}")
    later = [d for d in await ledger.history(repo=target["repo"],
                                              environment=target["environment"],
                                              status="succeeded", limit=50)
             if d["id"] > target_id and d["kind"] == "deploy"
             and not d["details"].get("rolled_back_by")]
    if later:
        ids = ", ".join(f"#{d['id']}" for d in sorted(later, key=lambda d: -d["id"]))
        raise RollbackRefused(f"deployment{'s' if len(later) > 1 else ''} {ids} came after "
                              f"#{target_id}; roll back the newest first")
    details = target["details"]
    state = {"rollback_target": {
        "id": target_id,
        "commit": target["commit_sha"],
        "applied": [a["version"] for a in details.get("applied", [])],
        "release": (details.get("release") or {}).get("id"),
        "previous_release": details.get("previous_release"),
        # The backup it took before its migrations: their undo where one has no script.
        "backup": (details.get("journal") or {}).get("backup"),
    }, "smoke_cleanup": list((details.get("journal") or {}).get("smoke_cleanup") or [])}
    return rollback_steps(), state
