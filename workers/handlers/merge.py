"""Merges and pushes deploy by themselves: a push to a branch an environment lists in
`deploy_on_push` (by default `main` → staging), or a merged pull request into it. A merge
sends both events; the first one queues the commit and the other finds it queued."""

from __future__ import annotations

from typing import Any

from service.config import ConfigError
from service.ledger import locks, requests
from workers.accept import accept
from workers.github_source import load_config
from workers.handlers.shape import REPOSITORY, malformed
from workers.jobs.context import WorkerContext
from workers.router import Delivery

ZERO_SHA = "0" * 40
PUSH_SHAPE = {"ref": "string", "after": "sha", "deleted": "bool?", "pusher": "object?",
              "pusher.name": "string?", "sender": "object?", "sender.login": "string?",
              **REPOSITORY}
CLOSED_SHAPE = {"number": "number?", "pull_request": "object", "pull_request.number": "number?",
                "pull_request.merged": "bool?", "pull_request.merge_commit_sha": "sha?",
                "pull_request.merged_by": "object?", "pull_request.merged_by.login": "string?",
                "pull_request.base": "object?", "pull_request.base.ref": "string?",
                **REPOSITORY}


async def _deploy_branch(ctx: WorkerContext, d: Delivery, branch: str, sha: str, who: str,
                         trigger: str, pr_number: int | None) -> str:
    assert d.installation_id is not None and d.repo is not None
    client = ctx.github.installation(d.installation_id)
    default_branch = str((d.payload.get("repository") or {}).get("default_branch") or "main")
    try:
        config = await load_config(client, d.repo, default_branch)
    except ConfigError as exc:
        return f"invalid configuration, nothing deployed: {exc.problems[0]}"
    results: list[str] = []
    for env in config.environments.values():
        if branch not in env.deploy_on_push:
            continue
        accepted = await accept(ctx, client, config, requests.NewRequest(
            repo=d.repo, environment=env.name, kind="deploy", commit_sha=sha,
            trigger=trigger, installation_id=d.installation_id, ref=branch,
            pr_number=pr_number, requested_by=who, delivery_id=d.id))
        results.append(f"{env.name}: {sha[:7]} already requested" if accepted.existing
                       else f"{env.name}: request {accepted.request_id}")
    return "; ".join(results) or f"no environment deploys {branch}"


async def on_push(ctx: WorkerContext, d: Delivery) -> str:
    p = d.payload
    if (bad := malformed(p, PUSH_SHAPE)) is not None:
        return bad
    ref = str(p.get("ref") or "")
    after = str(p.get("after") or "")
    if not ref.startswith("refs/heads/") or not after or after == ZERO_SHA or p.get("deleted"):
        return "not a branch update"
    if d.installation_id is None or d.repo is None:
        return "no installation or repository in the payload"
    who = str((p.get("pusher") or {}).get("name") or (p.get("sender") or {}).get("login") or "")
    return await _deploy_branch(ctx, d, ref.removeprefix("refs/heads/"), after, who, "push",
                                None)


async def on_pr_closed(ctx: WorkerContext, d: Delivery) -> str:
    p = d.payload
    if (bad := malformed(p, CLOSED_SHAPE)) is not None:
        return bad
    pull: dict[str, Any] = p["pull_request"]
    if d.repo is None:
        return "no repository in the payload"
    number = int(pull.get("number") or p.get("number") or 0)
    async with ctx.db.connection() as conn:
        freed = await locks.release_for_pr(conn, d.repo, number)  # closed or merged: done
    note = f"released locks on {', '.join(freed)}; " if freed else ""
    if not pull.get("merged") or not pull.get("merge_commit_sha") or d.installation_id is None:
        return note + "closed without merging"
    who = str((pull.get("merged_by") or {}).get("login") or "")
    branch = str((pull.get("base") or {}).get("ref") or "")
    return note + await _deploy_branch(ctx, d, branch, str(pull["merge_commit_sha"]), who,
                                       "merge", number)
