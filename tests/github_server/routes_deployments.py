"""Deployments and deployment statuses, with GitHub's 202 (auto-merge), 409 (conflict or
failing required contexts) and `auto_inactive` behaviour."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .auth import require_repo
from .common import base_url, context, paginated, valid_body
from .errors import ApiError
from .routes_repos import resolve_sha, runs_for
from .state import BOT_LOGIN, JSON, Repo, ServerState, iso, user


def _failing_contexts(repo: Repo, sha: str, required: list[str] | None) -> list[JSON]:
    """Contexts that are not green: commit statuses (latest per context) and check runs."""
    latest: dict[str, str] = {}
    for status in repo.statuses.get(sha, []):
        latest[status["context"]] = status["state"]
    for run in runs_for(repo, sha):
        latest.setdefault(run["name"], run["conclusion"] if run["status"] == "completed"
                          else "pending")
    wanted = latest.keys() if required is None else required
    return [{"context": c, "state": latest.get(c, "missing")} for c in wanted
            if latest.get(c) not in ("success", "neutral", "skipped")]


async def create(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    body = await valid_body(request, "deployment_create")
    ref = body["ref"]
    with state.lock:
        outcome = repo.deployment_outcomes.popleft() if repo.deployment_outcomes else None
    if outcome == "merged":
        return JSONResponse({"message": f"Auto-merged {repo.default_branch} into {ref} on "
                                        "deployment."}, status_code=202)
    if outcome == "conflict":
        raise ApiError(409, f"Conflict merging {repo.default_branch} into {ref}.")
    sha = await resolve_sha(repo, ref)
    if sha is None:
        raise ApiError(422, f"No ref found for: {ref}")
    failing = _failing_contexts(repo, sha, body.get("required_contexts"))
    if failing:
        raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.",
                       [{"contexts": failing, "resource": "Deployment",
                         "field": "required_contexts", "code": "invalid"}])
    environment = body.get("environment", "production")
    with state.lock:
        deployment_id = state.next_id()
        now = iso(state.now())
        deployment = {
            "id": deployment_id, "node_id": f"DE_{deployment_id}", "sha": sha, "ref": ref,
            "task": body.get("task", "deploy"), "payload": body.get("payload", {}),
            "environment": environment, "original_environment": environment,
            "description": body.get("description"), "creator": user(BOT_LOGIN),
            "created_at": now, "updated_at": now,
            "production_environment": body.get("production_environment",
                                                environment == "production"),
            "transient_environment": body.get("transient_environment", False),
            "url": f"{base_url(request)}/repos/{repo.full_name}/deployments/{deployment_id}",
            "statuses_url": f"{base_url(request)}/repos/{repo.full_name}/deployments/"
                            f"{deployment_id}/statuses",
        }
        repo.deployments[deployment_id] = deployment
        repo.deployment_statuses[deployment_id] = []
    return JSONResponse(deployment, status_code=201)


def _deployment(repo: Repo, request: Request) -> JSON:
    deployment = repo.deployments.get(int(request.path_params["deployment_id"]))
    if deployment is None:
        raise ApiError(404, "Not Found")
    return deployment


async def list_deployments(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    q = request.query_params
    items = [d for d in sorted(repo.deployments.values(), key=lambda d: d["id"], reverse=True)
             if all(q.get(k) in (None, d[k]) for k in ("environment", "ref", "sha", "task"))]
    return paginated(request, items)


async def get_deployment(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    return JSONResponse(_deployment(repo, request))


def _new_status(state: ServerState, repo: Repo, deployment: JSON, body: JSON) -> JSON:
    status_id = state.next_id()
    now = iso(state.now())
    status = {
        "id": status_id, "state": body["state"], "description": body.get("description", ""),
        "environment": body.get("environment", deployment["environment"]),
        "target_url": body.get("target_url", body.get("log_url", "")),
        "log_url": body.get("log_url", body.get("target_url", "")),
        "environment_url": body.get("environment_url", ""),
        "creator": user(BOT_LOGIN), "created_at": now, "updated_at": now,
        "deployment_url": deployment["url"],
    }
    repo.deployment_statuses[deployment["id"]].append(status)
    deployment["updated_at"] = now
    return status


def _deactivate_older(state: ServerState, repo: Repo, current: JSON) -> None:
    """GitHub's auto_inactive: prior non-transient, non-production deployments of the same
    environment get an `inactive` status."""
    for other in repo.deployments.values():
        if (other["id"] == current["id"] or other["environment"] != current["environment"]
                or other["transient_environment"] or other["production_environment"]
                or other["id"] > current["id"]):
            continue
        history = repo.deployment_statuses[other["id"]]
        if history and history[-1]["state"] != "inactive":
            _new_status(state, repo, other, {"state": "inactive"})


async def create_status(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    deployment = _deployment(repo, request)
    body = await valid_body(request, "deployment_status_create")
    with state.lock:
        if "environment" in body:
            deployment["environment"] = body["environment"]
        status = _new_status(state, repo, deployment, body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            _deactivate_older(state, repo, deployment)
    return JSONResponse(status, status_code=201)


async def list_statuses(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    deployment = _deployment(repo, request)
    history = list(reversed(repo.deployment_statuses[deployment["id"]]))  # newest first
    return paginated(request, history)


routes = [
    Route("/repos/{owner}/{repo}/deployments", create, methods=["POST"]),
    Route("/repos/{owner}/{repo}/deployments", list_deployments, methods=["GET"]),
    Route("/repos/{owner}/{repo}/deployments/{deployment_id:int}", get_deployment,
          methods=["GET"]),
    Route("/repos/{owner}/{repo}/deployments/{deployment_id:int}/statuses", create_status,
          methods=["POST"]),
    Route("/repos/{owner}/{repo}/deployments/{deployment_id:int}/statuses", list_statuses,
          methods=["GET"]),
]
