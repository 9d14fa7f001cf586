"""Light step lists injected through WorkerContext.plan: the real queue, leases and workers
run, but a deployment only waits instead of touching a database."""

from __future__ import annotations

import asyncio

from workers.jobs.context import Plan
from workers.runbook.context import DeployContext
from workers.runbook.step import Step


def sleeping(seconds: float) -> Plan:
    """Every request runs one step that sleeps `seconds`."""

    async def work(ctx: DeployContext) -> None:
        await asyncio.sleep(seconds)

    step = Step("work", "Work", run=work)
    return lambda kind: [step]


def gated(gate: asyncio.Event, seconds: float) -> Plan:
    """Every request's step waits for `gate`, then sleeps `seconds`: the test decides when
    the first deployment may end, and later ones still take long enough to overlap if the
    lease let them."""

    async def work(ctx: DeployContext) -> None:
        await gate.wait()
        await asyncio.sleep(seconds)

    step = Step("work", "Work", run=work)
    return lambda kind: [step]
