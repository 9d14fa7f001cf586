"""/rollback <env> [<deployment>]: undo the latest (or the given) successful deployment of an
environment, reported like a deployment with its own check run and GitHub deployment."""

from __future__ import annotations

from service.ledger import requests, undoable
from service.ledger.deployments import Ledger
from service.ledger.rows import DeploymentRow
from workers import messages
from workers.accept import accept
from workers.commands.base import CommandRequest


async def run_rollback(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    async with req.ctx.db.connection() as conn:
        ledger = Ledger(conn)
        if req.command.deployment_id is not None:
            target: DeploymentRow | None = await ledger.get(req.command.deployment_id)
            if target is None or target["repo"] != req.repo or target["environment"] != env.name:
                return await req.refuse(
                    messages.NO_SUCH_DEPLOYMENT.format(deployment=req.command.deployment_id,
                                                       environment=env.name),
                    messages.NO_SUCH_DEPLOYMENT_FIX.format(environment=env.name))
        else:
            target = await ledger.last_successful(req.repo, env.name)
            if target is None:
                return await req.refuse(messages.NOTHING_TO_UNDO.format(environment=env.name))
        if (refused := await undoable.why_not(ledger, target)) is not None:
            return await req.refuse(refused.message + ".")
    await req.react("eyes")
    accepted = await accept(req.ctx, req.client, req.config, requests.NewRequest(
        repo=req.repo, environment=env.name, kind="rollback",
        commit_sha=target["commit_sha"], trigger="comment",
        installation_id=req.installation_id, pr_number=req.pr_number,
        requested_by=req.user, comment_id=req.comment_id, delivery_id=req.delivery_id,
        rollback_target=int(target["id"])))
    if accepted.position > 1 and not accepted.existing:
        await req.reply(messages.queued(req.user, env.name, accepted.position, accepted.running))
    return f"rollback request {accepted.request_id} of deployment {target['id']}"
