"""Repository reads: the repository, pull requests, reviews, permissions, commit statuses,
contents and tarballs (from the fixture git repository)."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import gitrepo
from .auth import require_repo
from .common import base_url, context, paginated
from .errors import ApiError
from .state import DEFAULT_COMMIT_DATE, JSON, SHA_RE, Repo

CONTENTS_JSON_MAX = 1024 * 1024  # larger files: JSON without content, as GitHub does


async def resolve_sha(repo: Repo, ref: str) -> str | None:
    """A ref as a commit SHA: a full SHA as is, then `refs`, then the git repository."""
    if SHA_RE.match(ref):
        return ref
    ref_name = ref.removeprefix("refs/heads/")
    if ref_name in repo.refs:
        return repo.refs[ref_name]
    if repo.git_dir is not None:
        try:
            return await gitrepo.resolve(repo.git_dir, ref)
        except gitrepo.GitMissing:
            return None
    return None


async def get_repo(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    return JSONResponse(repo.json(base_url(request)))


def _pull(repo: Repo, request: Request) -> JSON:
    pull = repo.pulls.get(int(request.path_params["number"]))
    if pull is None:
        raise ApiError(404, "Not Found")
    return pull


async def get_pull(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    return JSONResponse(_pull(repo, request))


async def list_reviews(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    number = _pull(repo, request)["number"]
    return paginated(request, list(repo.reviews.get(number, [])))


async def permission(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    answer = repo.permissions.get(request.path_params["username"].lower())
    if answer is None:
        raise ApiError(404, "Not Found")  # not a GitHub user (as far as this server knows)
    return JSONResponse(answer)


async def combined_status(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    ref = request.path_params["ref"]
    sha = await resolve_sha(repo, ref)
    if sha is None:
        raise ApiError(404, f"No commit found for SHA: {ref}")
    latest: dict[str, JSON] = {}
    for status in repo.statuses.get(sha, []):
        latest[status["context"]] = status
    statuses = sorted(latest.values(), key=lambda s: s["id"], reverse=True)
    states = {s["state"] for s in statuses}
    if states & {"error", "failure"}:
        overall = "failure"
    elif not statuses or "pending" in states:
        overall = "pending"
    else:
        overall = "success"
    return paginated(request, statuses, key="statuses", extra={
        "state": overall, "sha": sha, "total_count": len(statuses),
        "repository": repo.json(base_url(request)),
        "commit_url": f"{base_url(request)}/repos/{repo.full_name}/commits/{sha}"})


async def get_commit(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    ref = request.path_params["ref"]
    sha = await resolve_sha(repo, ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    info: JSON | None = repo.commits.get(sha)
    if info is None and repo.git_dir is not None:
        try:
            info = await gitrepo.commit(repo.git_dir, sha)
        except gitrepo.GitMissing:
            info = None
    if info is None:
        if repo.git_dir is not None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        date = DEFAULT_COMMIT_DATE
        info = {"sha": sha, "tree": "0" * 40, "parents": [], "message": "change",
                "author": {"name": "Test Author", "email": "author@example.com", "date": date},
                "committer": {"name": "Test Author", "email": "author@example.com",
                              "date": date}}
    api = f"{base_url(request)}/repos/{repo.full_name}"
    return JSONResponse({
        "sha": info["sha"], "node_id": f"C_{info['sha']}",
        "commit": {"author": info["author"], "committer": info["committer"],
                   "message": info["message"], "tree": {"sha": info["tree"]},
                   "url": f"{api}/git/commits/{info['sha']}"},
        "author": None, "committer": None,
        "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in info["parents"]],
        "html_url": f"https://github.com/{repo.full_name}/commit/{info['sha']}",
        "url": f"{api}/commits/{info['sha']}",
    })


def runs_for(repo: Repo, sha: str, *, name: str | None = None, latest: bool = True
             ) -> list[JSON]:
    runs = [r for r in repo.check_runs.values()
            if r["head_sha"] == sha and (name is None or r["name"] == name)]
    runs.sort(key=lambda r: r["id"], reverse=True)
    if latest:
        seen: set[str] = set()
        kept = []
        for run in runs:
            if run["name"] not in seen:
                seen.add(run["name"])
                kept.append(run)
        runs = kept
    return runs


async def check_runs_for_ref(request: Request) -> JSONResponse:
    repo = require_repo(request, context(request).state)
    ref = request.path_params["ref"]
    sha = await resolve_sha(repo, ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    runs = runs_for(repo, sha, name=request.query_params.get("check_name"),
                    latest=request.query_params.get("filter", "latest") == "latest")
    return paginated(request, runs, key="check_runs", extra={"total_count": len(runs)})


def _entry_json(request: Request, repo: Repo, entry: gitrepo.Entry, ref: str) -> JSON:
    url = f"{base_url(request)}/repos/{repo.full_name}/contents/{entry.path}?ref={ref}"
    data: JSON = {"type": entry.type, "name": entry.path.rsplit("/", 1)[-1],
                  "path": entry.path, "sha": entry.sha, "size": entry.size, "url": url,
                  "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{entry.path}",
                  "download_url": None}
    return data


async def contents(request: Request) -> Response:
    repo = require_repo(request, context(request).state)
    ref = request.query_params.get("ref") or repo.default_branch
    sha = await resolve_sha(repo, ref)
    if repo.git_dir is None or sha is None:
        raise ApiError(404, "Not Found")
    try:
        found = await gitrepo.entry(repo.git_dir, sha, request.path_params["path"])
    except gitrepo.GitMissing:
        raise ApiError(404, "Not Found") from None
    if isinstance(found, list):
        return JSONResponse([_entry_json(request, repo, e, ref) for e in found])
    assert found.content is not None
    if "raw" in request.headers.get("accept", ""):
        return Response(found.content, media_type="application/vnd.github.raw")
    data = _entry_json(request, repo, found, ref)
    if found.size > CONTENTS_JSON_MAX:
        data.update(encoding="none", content="")
    else:
        encoded = base64.b64encode(found.content).decode()
        data.update(encoding="base64",
                    content="\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)))
    return JSONResponse(data)


async def tarball(request: Request) -> Response:
    repo = require_repo(request, context(request).state)
    ref = request.path_params["ref"]
    sha = await resolve_sha(repo, ref)
    if sha is None or (repo.git_dir is None and sha not in repo.tarballs):
        raise ApiError(404, "Not Found")
    location = f"{base_url(request)}/_codeload/{repo.full_name}/legacy.tar.gz/{sha}"
    return RedirectResponse(location, status_code=302)


async def codeload(request: Request) -> Response:
    repo = context(request).state.find_repo(request.path_params["owner"],
                                            request.path_params["repo"])
    sha = request.path_params["sha"]
    if repo is None or not SHA_RE.match(sha):
        return Response(b"Not Found", status_code=404)
    if sha in repo.tarballs:
        data = repo.tarballs[sha]
    elif repo.git_dir is None:
        return Response(b"Not Found", status_code=404)
    else:
        try:
            data = await gitrepo.tarball(repo.git_dir, sha, repo.owner, repo.name)
        except gitrepo.GitMissing:
            return Response(b"Not Found", status_code=404)
    name = f"{repo.owner}-{repo.name}-{sha[:7]}.tar.gz"
    return Response(data, media_type="application/x-gzip",
                    headers={"content-disposition": f"attachment; filename={name}"})




routes = [
    Route("/repos/{owner}/{repo}", get_repo, methods=["GET"]),
    Route("/repos/{owner}/{repo}/pulls/{number:int}", get_pull, methods=["GET"]),
    Route("/repos/{owner}/{repo}/pulls/{number:int}/reviews", list_reviews, methods=["GET"]),
    Route("/repos/{owner}/{repo}/collaborators/{username}/permission", permission,
          methods=["GET"]),
    Route("/repos/{owner}/{repo}/commits/{ref:path}/status", combined_status, methods=["GET"]),
    Route("/repos/{owner}/{repo}/commits/{ref:path}/check-runs", check_runs_for_ref,
          methods=["GET"]),
    Route("/repos/{owner}/{repo}/commits/{ref:path}", get_commit, methods=["GET"]),
    Route("/repos/{owner}/{repo}/contents/{path:path}", contents, methods=["GET"]),
    Route("/repos/{owner}/{repo}/tarball/{ref:path}", tarball, methods=["GET"]),
    Route("/_codeload/{owner}/{repo}/legacy.tar.gz/{sha}", codeload, methods=["GET"]),
]
