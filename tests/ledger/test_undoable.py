"""The one rule for what a rollback may undo, and which deployments `rollback --to` takes."""

from __future__ import annotations

from service.ledger import undoable
from service.ledger.deployments import Ledger


async def test_only_the_newest_successful_deployment_not_yet_undone(fresh_db: str) -> None:
    async with Ledger.open(fresh_db) as ledger:
        async def record(status: str, kind: str = "deploy", **details: object) -> int:
            dep = await ledger.create_deployment(repo="o/r", environment="staging", kind=kind,
                                                 commit_sha="a" * 40, details=details)
            await ledger.finish(dep, status=status)
            return dep

        first, second = await record("succeeded"), await record("succeeded")
        failed = await record("rolled_back")
        noop = await record("up_to_date")

        async def why(dep: int) -> str | None:
            row = await ledger.get(dep)
            assert row is not None
            refused = await undoable.why_not(ledger, row)
            return None if refused is None else f"{refused.title}: {refused.message}"

        assert await why(second) is None  # a no-op after it changes nothing
        assert await why(first) == (f"Roll back the newest first: #{second} came after "
                                    f"#{first} on staging; roll that back first")
        assert (await why(failed) or "").startswith("Nothing to roll back: deployment "
                                                    f"#{failed} is a deploy that ended rolled")
        assert (await why(noop) or "").startswith("Nothing to roll back")
        undone = await record("succeeded", rolled_back_by=second)
        assert await why(undone) == (f"Already rolled back: deployment #{undone} was already "
                                     f"rolled back by #{second}")

        good = await undoable.candidates(ledger, "o/r", "staging")
        assert [d["id"] for d in good] == [second, first]
        latest = undoable.choose(good, after=None)
        assert [d["id"] for d in latest.targets] == [second]
        assert [d["id"] for d in latest.earlier] == [first]
        everything = undoable.choose(good, after=first - 1)
        assert [d["id"] for d in everything.targets] == [second, first]
        assert everything.earlier == []  # nothing would be left: the CLI asks for a flag
