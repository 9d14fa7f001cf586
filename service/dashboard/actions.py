"""The dashboard's buttons: Rollback and Unlock. Each is a request like the comment command
(`/rollback <env>`, `/unlock <env>`), with the same permission (authorization.py).

The web process never runs a step and never calls GitHub: Rollback records the request in
the ledger and enqueues it for the workers (run_request), exactly as accepted requests are;
Unlock removes the sticky lock. Both are POSTs checked against cross-site use."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service import queue
from service.commands.authorization import may_unlock
from service.dashboard import queries, repo_config, session
from service.dashboard.session import Viewer
from service.dashboard.web import checked_form, config, current_viewer, login_redirect, problem
from service.ledger import locks, requests, undoable
from service.ledger.deployments import Ledger
from service.permissions import rank
from service.web_state import web_state

log = logging.getLogger(__name__)


async def _actor(request: Request) -> tuple[Viewer, dict[str, str]] | Response:
    viewer = await current_viewer(request)
    if viewer is None:
        return login_redirect(request)
    fields = await checked_form(request, viewer)
    if isinstance(fields, Response):
        return fields
    if not viewer.operator and viewer.age() > config(request).action_permission_seconds:
        return problem(request, 403, "Sign in again to confirm your permission",
                       "Your GitHub permissions were read over ten minutes ago; actions need "
                       "them fresh. Sign in again (GitHub does not ask anything), then press "
                       "the button again.", back="/auth/github?next=/")
    return viewer, fields


async def _permitted(request: Request, viewer: Viewer, repo: str, command: str,
                     environment: str) -> Response | None:
    state = web_state(request)
    need = await repo_config.required(state.redis, state.prefix, repo, command, environment)
    have = viewer.level(repo)
    if not viewer.can_read(repo):
        return problem(request, 404, "No such environment",
                       f"deploybot has nothing of {repo} that you can read.")
    if rank(have) < rank(need):
        return problem(request, 403, "Not allowed",
                       f"`/{command} {environment}` on {repo} needs {need} permission; "
                       f"GitHub says you have {have}. Ask a maintainer of {repo}.")
    return None


async def _flash(request: Request, viewer: Viewer, message: str) -> None:
    viewer.flash.append(message)
    await session.save(web_state(request).redis, web_state(request).prefix,
                       request.cookies.get(session.COOKIE, ""), viewer)


async def rollback(request: Request) -> Response:
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    viewer, fields = actor
    try:
        target_id = int(fields.get("deployment", ""))
    except ValueError:
        return problem(request, 400, "Which deployment?",
                       "The form named no deployment to roll back; use the button on the "
                       "deployment's page.")
    state = web_state(request)
    async with state.db.connection() as conn:
        target = await Ledger(conn).get(target_id)
        if target is None or not viewer.can_read(target["repo"]):
            return problem(request, 404, "No such deployment",
                           f"There is no deployment #{target_id} in a repository you can read.")
        repo, env = target["repo"], target["environment"]
        refused = await _permitted(request, viewer, repo, "rollback", env)
        if refused is not None:
            return refused
        back = f"/deployments/{target_id}"
        if (why := await undoable.why_not(Ledger(conn), target)) is not None:
            return problem(request, 409, why.title,
                           why.message[:1].upper() + why.message[1:] + ".", back=back)
        pending = [r for r in await requests.active(conn, repo, env)
                   if r["kind"] == "rollback" and r["rollback_target"] == target_id]
        if pending:
            return RedirectResponse(f"/requests/{pending[0]['id']}", status_code=303)
        installation = await queries.installation_of(conn, repo)
        if installation is None:
            return problem(request, 409, "Roll back from the command line",
                           f"{repo} was deployed with `deploybot deploy`, not through the "
                           f"GitHub App, so no worker can fetch its code: run `deploybot "
                           f"rollback {env}` where it was deployed.", back=back)
        created = await requests.create(conn, requests.NewRequest(
            repo=repo, environment=env, kind="rollback", commit_sha=target["commit_sha"],
            trigger="dashboard", installation_id=installation, ref=target["ref"] or None,
            pr_number=target["pr_number"], requested_by=viewer.login,
            rollback_target=target_id))
    await queue.enqueue(state.redis, state.prefix, "run_request",
                        queue.request_job_id(state.prefix, created.id), created.id,
                        ahead=True)
    log.info("rollback of deployment %s on %s/%s requested from the dashboard by %s "
             "(request %s)", target_id, repo, env, viewer.login, created.id)
    return RedirectResponse(f"/requests/{created.id}", status_code=303)


async def unlock(request: Request) -> Response:
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    viewer, fields = actor
    repo, env = fields.get("repo", ""), fields.get("environment", "")
    refused = await _permitted(request, viewer, repo, "unlock", env)
    if refused is not None:
        return refused
    async with web_state(request).db.connection() as conn:
        held = await locks.lock_of(conn, repo, env)
        if held is None:
            await _flash(request, viewer, f"{env} of {repo} was not locked.")
            return RedirectResponse("/", status_code=303)
        owner_ok = viewer.operator or held["owner"].lower() == viewer.login.lower()
        if not may_unlock(viewer.level(repo), holds_it=owner_ok):
            return problem(request, 403, "Not allowed",
                           f"{env} is locked by @{held['owner']} for #{held['pr_number']}; "
                           "only they or a maintainer can unlock it.")
        await locks.release(conn, repo, env)
    log.info("%s/%s unlocked from the dashboard by %s (was locked by %s)", repo, env,
             viewer.login, held["owner"])
    await _flash(request, viewer, f"{env} of {repo} is unlocked (it was locked by "
                                  f"@{held['owner']}).")
    return RedirectResponse("/", status_code=303)


routes = [
    Route("/actions/rollback", rollback, methods=["POST"]),
    Route("/actions/unlock", unlock, methods=["POST"]),
]
