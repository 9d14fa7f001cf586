"""Which deployment a rollback may undo: the one rule the CLI, `/rollback`, the dashboard's
button and the rollback itself share.

A deployment is undone when it succeeded, was not rolled back already, and is the newest
one its environment still runs (newer ones are rolled back first, newest first)."""

from __future__ import annotations

from dataclasses import dataclass

from service.ledger.deployments import Ledger
from service.ledger.rows import DeploymentRow


@dataclass(frozen=True)
class NotUndoable:
    title: str  # a few words, for a page's heading
    message: str  # what is wrong and what to do


async def why_not(ledger: Ledger, target: DeploymentRow) -> NotUndoable | None:
    """None when `target` can be rolled back now; otherwise why not."""
    dep = f"#{target['id']}"
    if target["kind"] != "deploy" or target["status"] != "succeeded":
        status = str(target["status"]).replace("_", " ")
        return NotUndoable("Nothing to roll back",
                           f"deployment {dep} is a {target['kind'].replace('_', ' ')} that "
                           f"ended {status}: only a deployment that succeeded has something "
                           "to undo")
    if (by := target["details"].get("rolled_back_by")) is not None:
        return NotUndoable("Already rolled back",
                           f"deployment {dep} was already rolled back by #{by}")
    newest = await ledger.last_successful(target["repo"], target["environment"])
    if newest is None or newest["id"] != target["id"]:
        newer = f"#{newest['id']}" if newest is not None else "a newer deployment"
        return NotUndoable("Roll back the newest first",
                           f"{newer} came after {dep} on {target['environment']}; roll that "
                           "back first")
    return None


async def candidates(ledger: Ledger, repo: str, environment: str, limit: int = 100
                     ) -> list[DeploymentRow]:
    """The deployments a rollback could undo, newest first: each becomes undoable once
    the ones before it in this list are undone."""
    return [d for d in await ledger.history(repo=repo, environment=environment,
                                             status="succeeded", limit=limit)
            if d["kind"] == "deploy" and d["details"].get("rolled_back_by") is None]


@dataclass(frozen=True)
class RollbackChoice:
    targets: list[DeploymentRow]  # to undo, newest first
    earlier: list[DeploymentRow]  # what stays: the environment runs the newest of these afterwards


def choose(candidates_: list[DeploymentRow], *, after: int | None) -> RollbackChoice:
    """The latest deployment, or every one after deployment `after`, from `candidates`
    (newest first)."""
    targets = ([d for d in candidates_ if d["id"] > after] if after is not None
               else candidates_[:1])
    oldest = min((int(t["id"]) for t in targets), default=None)
    earlier = [d for d in candidates_ if oldest is not None and d["id"] < oldest]
    return RollbackChoice(targets, earlier)

