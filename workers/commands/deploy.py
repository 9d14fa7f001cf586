"""/deploy <env> [--noop]: deploy the pull request's head commit as it was when the comment
was written."""

from __future__ import annotations

from datetime import datetime

from service.commands.echo import code
from service.ledger import requests
from service.ledger.locks import lock_of
from workers import messages
from workers.accept import accept
from workers.commands.base import CommandRequest
from workers.gates.precheck import precheck
from workers.gates.result import checklist


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def run_deploy(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    pull = await req.client.get_pull(req.repo, req.pr_number)
    if pull.get("state") != "open":
        return await req.refuse(f"#{req.pr_number} is {pull.get('state')}: only open pull "
                                "requests deploy from a comment.",
                                "Merged changes reach staging by themselves.")
    head = pull["head"]
    sha = str(head["sha"])
    head_repo = (head.get("repo") or {}).get("full_name")
    if head_repo != req.repo and not req.config.allow_forks:
        return await req.refuse(
            "this pull request comes from a fork, and forks may not deploy here.",
            "A maintainer can push the branch to this repository, or set `allow_forks: true` "
            "in `.github/deploybot.yml` on the default branch.")
    # The commit must be older than the comment: a push after `/deploy` is never deployed.
    commit = await req.client.get_commit(req.repo, sha)
    committed = _parse_time(commit["commit"]["committer"]["date"])
    if committed > req.comment_created_at:
        return await req.refuse(
            f"the head of #{req.pr_number} moved to `{sha[:7]}` after your comment, so I did "
            "not deploy it.", f"Comment `/deploy {env.name}` again to deploy `{sha[:7]}`.")
    async with req.ctx.db.connection() as conn:
        lock = await lock_of(conn, req.repo, env.name)
    if lock is not None and lock["pr_number"] != req.pr_number:
        return await req.refuse(
            f"`{env.name}` is locked by @{lock['owner']} for #{lock['pr_number']}"
            + (f" ({code(lock['reason'])})" if lock["reason"] else "") + ".",
            f"Ask them to `/unlock {env.name}` there, then comment again.")
    if env.production and not req.command.noop:
        results, missing = await precheck(req.ctx, req.client, env, repo=req.repo, commit=sha,
                                          pr_number=req.pr_number,
                                          forced_reason=req.command.reason)
        if missing:
            return await req.refuse(
                f"`{env.name}` was not touched: {len(missing)} item(s) of the pre-production "
                "checklist do not hold.", checklist(results))
    await req.react("eyes")
    accepted = await accept(req.ctx, req.client, req.config, requests.NewRequest(
        repo=req.repo, environment=env.name,
        kind="dry_run" if req.command.noop else "deploy", commit_sha=sha,
        trigger="comment", installation_id=req.installation_id, ref=head.get("ref"),
        pr_number=req.pr_number, requested_by=req.user, comment_id=req.comment_id,
        delivery_id=req.delivery_id, forced_reason=req.command.reason))
    if accepted.position > 1 and not accepted.existing:
        await req.reply(messages.queued(req.user, env.name, accepted.position, accepted.running))
    return f"request {accepted.request_id} accepted at position {accepted.position}"
