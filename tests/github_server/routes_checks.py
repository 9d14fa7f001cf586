"""Check runs: create, update (annotations append across requests, every body kept), read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .auth import require_repo
from .common import context, paginated, valid_body
from .errors import ApiError
from .state import JSON, Repo, ServerState, iso

_FIELDS = ("name", "details_url", "external_id", "started_at", "completed_at")


def _apply(state: ServerState, repo: Repo, run: JSON, body: JSON) -> None:
    for key in _FIELDS:
        if key in body:
            run[key] = body[key]
    if "status" in body:
        run["status"] = body["status"]
    if body.get("conclusion"):
        run["conclusion"] = body["conclusion"]
        run["status"] = "completed"
    if run["status"] == "completed" and not run.get("completed_at"):
        run["completed_at"] = iso(state.now())
    if "actions" in body:
        run["actions"] = body["actions"]
    output = body.get("output")
    if output:
        for key in ("title", "summary", "text"):
            if key in output:
                run["output"][key] = output[key]
        new = output.get("annotations") or []
        repo.annotations[run["id"]].extend(new)
        run["output"]["annotations_count"] = len(repo.annotations[run["id"]])
    repo.check_run_requests[run["id"]].append(body)


async def create(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    body = await valid_body(request, "check_run_create")
    with state.lock:
        run = state.new_check_run(repo, body)
        _apply(state, repo, run, body)
    return JSONResponse(run, status_code=201)


def _run(repo: Repo, request: Request) -> JSON:
    run = repo.check_runs.get(int(request.path_params["check_run_id"]))
    if run is None:
        raise ApiError(404, "Not Found")
    return run


async def update(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    run = _run(repo, request)
    body = await valid_body(request, "check_run_update")
    if run["app"]["id"] != state.app_id:
        raise ApiError(403, f"Invalid app_id `{state.app_id}` - check run can only be "
                            "modified by the GitHub App that created it.")
    with state.lock:
        _apply(state, repo, run, body)
    return JSONResponse(run)


async def get(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    return JSONResponse(_run(repo, request))


async def list_annotations(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    run = _run(repo, request)
    return paginated(request, list(repo.annotations[run["id"]]))


routes = [
    Route("/repos/{owner}/{repo}/check-runs", create, methods=["POST"]),
    Route("/repos/{owner}/{repo}/check-runs/{check_run_id:int}", update, methods=["PATCH"]),
    Route("/repos/{owner}/{repo}/check-runs/{check_run_id:int}", get, methods=["GET"]),
    Route("/repos/{owner}/{repo}/check-runs/{check_run_id:int}/annotations", list_annotations,
          methods=["GET"]),
]
