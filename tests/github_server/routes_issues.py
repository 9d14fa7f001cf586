"""Issues, issue/PR comments and reactions to comments."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import require_repo
from .common import base_url, context, paginated, valid_body
from .errors import ApiError
from .state import BOT_LOGIN, JSON, Repo, iso, public, user


def _comment(repo: Repo, request: Request) -> JSON:
    comment = repo.comments.get(int(request.path_params["comment_id"]))
    if comment is None:
        raise ApiError(404, "Not Found")
    return comment


def _issue_exists(repo: Repo, number: int) -> None:
    if number not in repo.pulls and number not in repo.issues:
        raise ApiError(404, "Not Found")


async def create_comment(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    number = int(request.path_params["issue_number"])
    _issue_exists(repo, number)
    body = await valid_body(request, "comment_create")
    comment = state.new_comment(repo, number, body["body"], BOT_LOGIN)
    return JSONResponse(public(comment), status_code=201)


async def list_comments(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    number = int(request.path_params["issue_number"])
    _issue_exists(repo, number)
    return paginated(request, [public(c) for c in repo.comments_on(number)])


async def get_comment(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    return JSONResponse(public(_comment(repo, request)))


async def update_comment(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    comment = _comment(repo, request)
    body = await valid_body(request, "comment_update")
    if comment["user"]["login"] != BOT_LOGIN:
        raise ApiError(403, "Resource not accessible by integration")
    with state.lock:
        comment["body"] = body["body"]
        comment["updated_at"] = iso(state.now())
    return JSONResponse(public(comment))


async def create_reaction(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    comment = _comment(repo, request)
    body = await valid_body(request, "reaction_create")
    with state.lock:
        reactions = repo.reactions.setdefault(comment["id"], [])
        for existing in reactions:
            if existing["content"] == body["content"]:
                return JSONResponse(existing, status_code=200)  # GitHub: already there
        reaction = {"id": state.next_id(), "content": body["content"], "user": user(BOT_LOGIN),
                    "created_at": iso(state.now())}
        reactions.append(reaction)
    return JSONResponse(reaction, status_code=201)


async def delete_reaction(request: Request) -> Response:
    state = context(request).state
    repo = require_repo(request, state)
    comment = _comment(repo, request)
    reaction_id = int(request.path_params["reaction_id"])
    with state.lock:
        reactions = repo.reactions.get(comment["id"], [])
        if not any(r["id"] == reaction_id for r in reactions):
            raise ApiError(404, "Not Found")
        reactions[:] = [r for r in reactions if r["id"] != reaction_id]
    return Response(status_code=204)


async def list_reactions(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    comment = _comment(repo, request)
    return paginated(request, list(repo.reactions.get(comment["id"], [])))


async def create_issue(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    body = await valid_body(request, "issue_create")
    with state.lock:
        number = repo.next_number
        repo.next_number += 1
        labels = [{"name": label} if isinstance(label, str) else label
                  for label in body.get("labels", [])]
        issue = {
            "id": state.next_id(), "number": number, "title": str(body["title"]),
            "body": body.get("body"), "state": "open", "labels": labels,
            "assignees": [user(a) for a in body.get("assignees", [])],
            "user": user(BOT_LOGIN), "created_at": iso(state.now()),
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
            "url": f"{base_url(request)}/repos/{repo.full_name}/issues/{number}",
        }
        repo.issues[number] = issue
    return JSONResponse(issue, status_code=201)


async def list_issues(request: Request) -> JSONResponse:
    """GET …/issues: `state` (open by default, closed, all), `labels` (each must be on the
    issue), sorted by `created` either way (newest first by default), paginated."""
    repo = require_repo(request, context(request).state)
    q = request.query_params
    state = q.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise ApiError(422, "Validation Failed")
    if q.get("sort", "created") != "created":
        raise ApiError(422, "Validation Failed")  # the only order this server keeps
    wanted = {name for name in q.get("labels", "").split(",") if name}
    found = [i for i in repo.issues.values()
             if state in ("all", i["state"])
             and wanted <= {label["name"] for label in i["labels"]}]
    found.sort(key=lambda i: i["number"], reverse=q.get("direction", "desc") == "desc")
    return paginated(request, found)


async def get_issue(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    issue = repo.issues.get(int(request.path_params["issue_number"]))
    if issue is None:
        raise ApiError(404, "Not Found")
    return JSONResponse(issue)


routes = [
    Route("/repos/{owner}/{repo}/issues", create_issue, methods=["POST"]),
    Route("/repos/{owner}/{repo}/issues", list_issues, methods=["GET"]),
    Route("/repos/{owner}/{repo}/issues/comments/{comment_id:int}", get_comment,
          methods=["GET"]),
    Route("/repos/{owner}/{repo}/issues/comments/{comment_id:int}", update_comment,
          methods=["PATCH"]),
    Route("/repos/{owner}/{repo}/issues/comments/{comment_id:int}/reactions", create_reaction,
          methods=["POST"]),
    Route("/repos/{owner}/{repo}/issues/comments/{comment_id:int}/reactions", list_reactions,
          methods=["GET"]),
    Route("/repos/{owner}/{repo}/issues/comments/{comment_id:int}/reactions/"
          "{reaction_id:int}", delete_reaction, methods=["DELETE"]),
    Route("/repos/{owner}/{repo}/issues/{issue_number:int}", get_issue, methods=["GET"]),
    Route("/repos/{owner}/{repo}/issues/{issue_number:int}/comments", create_comment,
          methods=["POST"]),
    Route("/repos/{owner}/{repo}/issues/{issue_number:int}/comments", list_comments,
          methods=["GET"]),
]
