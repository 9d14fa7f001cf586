"""Check-run buttons (Retry, Roll back, Deploy to production) and re-runs.

A button is a request like a comment: the same authorization and the same gates apply."""

from __future__ import annotations

from service.commands import authorization
from service.commands.grammar import Command
from service.config import ConfigError
from service.ledger import requests
from service.ledger.deployments import Ledger
from workers import messages
from workers.accept import accept
from workers.commands import replies
from workers.gates.precheck import precheck
from workers.gates.result import checklist_table
from workers.github_source import load_config
from workers.handlers.shape import REPOSITORY, malformed
from workers.jobs.context import WorkerContext
from workers.router import Delivery

ACTIONS = {"retry", "rollback", "deploy-production"}
SHAPE = {"check_run": "object", "check_run.id": "id", "sender": "object?",
         "sender.login": "string?", **REPOSITORY}
BUTTON_SHAPE = {"requested_action": "object", "requested_action.identifier": "string", **SHAPE}


async def _rerun(ctx: WorkerContext, d: Delivery, check_run_id: int, identifier: str) -> str:
    assert d.installation_id is not None and d.repo is not None
    client = ctx.github.installation(d.installation_id)
    async with ctx.db.connection() as conn:
        original = await requests.by_check_run(conn, d.repo, check_run_id)
    if original is None:
        return f"check run {check_run_id} is not one of ours"
    user = str((d.payload.get("sender") or {}).get("login") or "")
    default_branch = str((d.payload.get("repository") or {}).get("default_branch") or "main")
    try:
        config = await load_config(client, d.repo, default_branch)
    except ConfigError as exc:
        return f"invalid configuration: {exc.problems[0]}"
    environment, kind, target = original["environment"], original["kind"], None
    if identifier == "deploy-production":
        production = next((e.name for e in config.environments.values() if e.production), None)
        if production is None:
            return "no production environment configured"
        environment, kind = production, "deploy"
    elif identifier == "rollback":
        kind = "rollback"
        async with ctx.db.connection() as conn:
            dep = await Ledger(conn).get(original["deployment_id"]) if original[
                "deployment_id"] else None
        if dep is None or dep["status"] != "succeeded":
            return "nothing to roll back"
        target = int(dep["id"])
    command = Command("rollback" if kind == "rollback" else "deploy", environment)
    permission = await client.get_collaborator_permission(d.repo, user)
    if not authorization.allowed(permission, command, config):
        need = authorization.required(command, config)
        return f"refused: {user} has {permission}, needs {need}"
    env = config.environment(environment)
    if env is not None and env.production and kind == "deploy":
        results, missing = await precheck(ctx, client, env, repo=d.repo,
                                          commit=original["commit_sha"],
                                          pr_number=original["pr_number"], forced_reason=None)
        if missing:
            if original["pr_number"]:
                await replies.post(client, d.repo, original["pr_number"], messages.refusal(
                    user, messages.checklist_refusal(env.name, len(missing), len(results)),
                    checklist_table(results)))
            return f"refused: {missing[0].key} gate"
    accepted = await accept(ctx, client, config, requests.NewRequest(
        repo=d.repo, environment=environment, kind=kind, commit_sha=original["commit_sha"],
        trigger="button", installation_id=d.installation_id, ref=original["ref"],
        pr_number=original["pr_number"], requested_by=user, delivery_id=d.id,
        rollback_target=target))
    return f"{identifier}: request {accepted.request_id}"


async def on_requested_action(ctx: WorkerContext, d: Delivery) -> str:
    if (bad := malformed(d.payload, BUTTON_SHAPE)) is not None:
        return bad
    identifier = str((d.payload.get("requested_action") or {}).get("identifier") or "")
    run = d.payload.get("check_run") or {}
    if identifier not in ACTIONS or d.installation_id is None or d.repo is None:
        return f"unknown action {identifier!r}"
    return await _rerun(ctx, d, int(run["id"]), identifier)


async def on_rerequested(ctx: WorkerContext, d: Delivery) -> str:
    if (bad := malformed(d.payload, SHAPE)) is not None:
        return bad
    run = d.payload.get("check_run") or {}
    if d.installation_id is None or d.repo is None or "id" not in run:
        return "incomplete payload"
    return await _rerun(ctx, d, int(run["id"]), "retry")


async def on_suite_rerequested(ctx: WorkerContext, d: Delivery) -> str:
    return "re-run the deploybot check run itself to retry a deployment"
