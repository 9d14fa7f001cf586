"""The pages: the overview (each repository's environments: release, lock, queue), a
deployment (its steps, timing and log, live while it runs), the history with its plot, and
a request waiting for its turn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.commands.authorization import may_unlock
from service.dashboard import (
    plots,
    queries,
    repo_config,
    session,
)
from service.dashboard.queries import EnvironmentView
from service.dashboard.session import Viewer
from service.dashboard.web import (
    current_viewer,
    login_redirect,
    problem,
    render,
    viewer_fresh_for_pages,
)
from service.ledger import requests, undoable
from service.ledger.deployments import FINAL_STATUSES, REAL, RECORD_KINDS, Ledger
from service.ledger.locks import lock_of
from service.permissions import rank
from service.web_state import web_state


async def signed_in(request: Request) -> Viewer | Response:
    """The viewer, or where to send a person who is not (or no longer) signed in."""
    viewer = await current_viewer(request)
    if viewer is None:
        return login_redirect(request)
    if not viewer_fresh_for_pages(request, viewer):
        # GitHub re-confirms who may read what (it does not ask the person again).
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/auth/github?next={quote(target, safe='')}",
                                status_code=303)
    return viewer


@dataclass
class Allowed:
    """What the viewer may do to an environment, or why not (shown to them)."""

    rollback: bool = False
    rollback_note: str = ""
    unlock: bool = False


async def allowed_actions(request: Request, conn: psycopg.AsyncConnection[Any], viewer: Viewer,
                          view: EnvironmentView) -> Allowed:
    state = web_state(request)
    level = viewer.level(view.repo)
    out = Allowed()
    if view.lock is not None:
        need = await repo_config.required(state.redis, state.prefix, view.repo, "unlock",
                                          view.name)
        out.unlock = rank(level) >= rank(need) and may_unlock(
            level, holds_it=viewer.operator or view.lock["owner"].lower() == viewer.login.lower())
    if view.active is not None and await undoable.why_not(Ledger(conn), view.active) is None:
        need = await repo_config.required(state.redis, state.prefix, view.repo, "rollback",
                                          view.name)
        if rank(level) < rank(need):
            return out
        if await queries.installation_of(conn, view.repo) is None:
            out.rollback_note = (f"deployed from the command line: `deploybot rollback "
                                 f"{view.name}` undoes it")
        elif view.rolling_back:
            out.rollback_note = "a rollback is queued"
        else:
            out.rollback = True
    return out


async def overview(request: Request) -> Response:
    viewer = await signed_in(request)
    if isinstance(viewer, Response):
        return viewer
    state = web_state(request)
    repos: list[dict[str, Any]] = []
    async with state.db.connection() as conn:
        for repo in await queries.repositories(conn):
            if not viewer.can_read(repo):
                continue
            configured = await repo_config.environments(state.redis, state.prefix, repo)
            envs = await queries.environments(conn, repo, configured)
            allowed = {v.name: await allowed_actions(request, conn, viewer, v) for v in envs}
            recent = await queries.history(conn, [repo], limit=8)
            repos.append({"name": repo, "environments": envs, "allowed": allowed,
                          "recent": recent, "level": viewer.level(repo)})
    return render(request, "overview.html", repos=repos, now=datetime.now(UTC),
                  flash=await _take_flash(request, viewer))


async def _take_flash(request: Request, viewer: Viewer) -> list[str]:
    if not viewer.flash:
        return []
    messages, viewer.flash = list(viewer.flash), []
    await session.save(web_state(request).redis, web_state(request).prefix,
                       request.state.session_id, viewer)
    return messages


async def deployment_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if isinstance(viewer, Response):
        return viewer
    state = web_state(request)
    dep_id = int(request.path_params["deployment_id"])
    async with state.db.connection() as conn:
        dep = await queries.deployment(conn, dep_id)
        if dep is None or not viewer.can_read(dep["repo"]):
            return problem(request, 404, "No such deployment",
                           f"There is no deployment #{dep_id} in a repository you can read.")
        undone_by = await queries.rolled_back_by(conn, dep_id)
        report = await queries.report_of(conn, dep_id)
        views = await queries.environments(conn, dep["repo"])
        view = next((v for v in views if v.name == dep["environment"]), None)
        allowed = await allowed_actions(request, conn, viewer, view) if view else Allowed()
        lock = await lock_of(conn, dep["repo"], dep["environment"])
        need = await repo_config.required(state.redis, state.prefix, dep["repo"], "rollback",
                                          dep["environment"])
        later = rank(viewer.level(dep["repo"])) >= rank(need) and (
            await queries.installation_of(conn, dep["repo"]) is not None)
    live = dep["status"] not in FINAL_STATUSES
    # The Rollback button: for the release running there now, or — hidden until the end —
    # for this deployment while it runs (it becomes that release if it succeeds).
    is_active = view is not None and view.active is not None and view.active["id"] == dep_id
    can_roll = dep["kind"] == "deploy" and (
        (is_active and allowed.rollback) or (live and later))
    return render(request, "deployment.html", dep=dep, steps=dep["steps"], live=live,
                  undone_by=undone_by, can_roll=can_roll and not undone_by,
                  roll_hidden=live, rollback_note=allowed.rollback_note if is_active else "",
                  lock=lock, report=report, now=datetime.now(UTC))


async def history_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if isinstance(viewer, Response):
        return viewer
    state = web_state(request)
    repo = request.query_params.get("repo") or None
    # no environment's name holds a NUL (PostgreSQL text cannot): dropped, not a 500
    environment = (request.query_params.get("env") or "").replace("\x00", "") or None
    kind = request.query_params.get("kind") or "real"
    if kind not in HISTORY_KINDS:
        return problem(request, 400, "No such kind of record",
                       f"The history lists {', '.join(HISTORY_KINDS)}; not {kind[:40]!r}.",
                       back="/history")
    async with state.db.connection() as conn:
        visible = [r for r in await queries.repositories(conn) if viewer.can_read(r)]
        if repo is not None and repo not in visible:
            return problem(request, 404, "No such repository",
                           f"deploybot has no deployments of {repo} that you can read.",
                           back="/history")
        where = [repo] if repo else visible
        kinds = REAL if kind == "real" else None if kind == "all" else (kind,)
        rows = await queries.history(conn, where, environment=environment, kinds=kinds,
                                     limit=300)
        # The numbers and the plot are about real deployments, whatever the table lists.
        real = rows if kind == "real" else await queries.history(
            conn, where, environment=environment, limit=300)
        counts = await queries.kind_counts(conn, where, environment=environment)
        envs = sorted({r["environment"] for r in rows} | {r["environment"] for r in real}
                      | ({environment} if environment else set()))
    points = [plots.Point(r["id"], r["started_at"], (r["finished_at"] - r["started_at"])
                          .total_seconds(), r["status"], f"{r['environment']} {r['kind']}")
              for r in real if r["started_at"] is not None and r["finished_at"] is not None]
    finished = [p for p in points if p.outcome in plots.OK | plots.FAILED]
    failed = sum(1 for p in finished if p.outcome in plots.FAILED)
    stats = {"total": len(real), "finished": len(finished), "failed": failed,
             "rate": (failed / len(finished)) if finished else None,
             "median": sorted(p.seconds for p in finished)[len(finished) // 2]
             if finished else None}
    others = [(k, counts[k]) for k in RECORD_KINDS if k not in REAL and counts.get(k)]
    return render(request, "history.html", rows=rows, repos=visible, repo=repo,
                  environment=environment, environments=envs, stats=stats, kind=kind,
                  kinds=HISTORY_KINDS, others=others,
                  plot=plots.history_svg(points, now=datetime.now(UTC)), now=datetime.now(UTC))


# The history's filter: real deployments (the default), one kind of record, or all.
HISTORY_KINDS = ("real", *RECORD_KINDS, "all")


async def request_page(request: Request) -> Response:
    """A request made from the dashboard, until a worker starts it: then its deployment."""
    viewer = await signed_in(request)
    if isinstance(viewer, Response):
        return viewer
    state = web_state(request)
    req_id = int(request.path_params["request_id"])
    async with state.db.connection() as conn:
        req = await queries.request_of(conn, req_id)
        if req is None or not viewer.can_read(req["repo"]):
            return problem(request, 404, "No such request",
                           f"There is no request #{req_id} in a repository you can read.")
        if req["deployment_id"]:
            return RedirectResponse(f"/deployments/{req['deployment_id']}", status_code=303)
        position = await requests.position(conn, req_id) if req["status"] == "queued" else 0
    return render(request, "request.html", req=req, position=position, now=datetime.now(UTC))


def routes() -> list[Route]:
    """Built when called: the `{name:id}` convertor is registered first (routes.py)."""
    return [
        Route("/", overview, methods=["GET"]),
        Route("/deployments/{deployment_id:id}", deployment_page, methods=["GET"]),
        Route("/history", history_page, methods=["GET"]),
        Route("/requests/{request_id:id}", request_page, methods=["GET"]),
    ]
