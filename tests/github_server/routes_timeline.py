"""GET …/issues/{n}/timeline: a pull request's `committed` events (its commits, from the
fixture git repository) and the events the state recorded (force pushes).

Like GitHub, the events are ordered by date, and a `committed` event's date is the commit's
own — which whoever pushes writes: a back-dated commit lands early in the timeline. The
committed event carries no time of its push; a `head_ref_force_pushed` event does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from githubkit_schemas.v2026_03_10.models import TimelineCommittedEvent
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import gitrepo
from .auth import require_repo
from .common import base_url, context, paginated
from .errors import ApiError
from .state import JSON, Repo

# What GitHub's REST description says a committed event looks like: the server's own
# answers are held to it, so the bot is tested against the real shape.
_COMMITTED: TypeAdapter[Any] = TypeAdapter(TimelineCommittedEvent)


def _committed(api: str, repo: Repo, info: JSON) -> JSON:
    sha = str(info["sha"])
    return {
        "event": "committed", "sha": sha, "node_id": f"C_{sha}",
        "url": f"{api}/git/commits/{sha}",
        "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
        "author": info["author"], "committer": info["committer"], "message": info["message"],
        "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
        "parents": [{"sha": p, "url": f"{api}/git/commits/{p}",
                     "html_url": f"https://github.com/{repo.full_name}/commit/{p}"}
                    for p in info["parents"]],
        "verification": {"verified": False, "reason": "unsigned", "signature": None,
                         "payload": None, "verified_at": None},
    }


async def _commit_infos(repo: Repo, pull: JSON) -> list[JSON]:
    head = str(pull["head"]["sha"])
    if repo.git_dir is None:
        return [repo.commits.get(head) or {
            "sha": head, "tree": "0" * 40, "parents": [], "message": "change",
            "author": {"name": "Test Author", "email": "author@example.com",
                       "date": "2020-01-01T00:00:00Z"},
            "committer": {"name": "Test Author", "email": "author@example.com",
                          "date": "2020-01-01T00:00:00Z"}}]
    base = str(pull["base"].get("sha") or pull["base"]["ref"])
    try:
        shas = await gitrepo.pull_commits(repo.git_dir, base, head)
        return [await gitrepo.commit(repo.git_dir, sha) for sha in shas]
    except gitrepo.GitMissing:
        return []


async def timeline(request: Request) -> JSONResponse:
    state = context(request).state
    repo = require_repo(request, state)
    number = int(request.path_params["issue_number"])
    pull = repo.pulls.get(number)
    if pull is None and number not in repo.issues:
        raise ApiError(404, "Not Found")
    api = f"{base_url(request)}/repos/{repo.full_name}"
    dated: list[tuple[str, JSON]] = []
    if pull is not None:
        for info in await _commit_infos(repo, pull):
            event = _committed(api, repo, info)
            _COMMITTED.validate_python(event)
            dated.append((_utc(str(info["author"]["date"])), event))
    with state.lock:
        recorded = list(repo.timeline.get(number, []))
    for event in recorded:
        dated.append((str(event["created_at"]), event))
    dated.sort(key=lambda pair: pair[0])  # stable: GitHub's order by date
    return paginated(request, [event for _, event in dated])


def _utc(date: str) -> str:
    """A git date (`2026-01-07T09:00:00+01:00`) as GitHub's UTC form, to order by."""
    parsed = datetime.fromisoformat(date.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


routes = [
    Route("/repos/{owner}/{repo}/issues/{issue_number:int}/timeline", timeline,
          methods=["GET"]),
]
