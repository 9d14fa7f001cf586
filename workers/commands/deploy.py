"""/deploy <env> [<sha>] [--noop]: deploy the pull request's head commit as it was when the
comment was written, or the commit of the pull request the comment names."""

from __future__ import annotations

from service.commands.echo import code
from service.ledger import pr_heads, requests
from service.ledger.locks import lock_of
from workers import messages
from workers.accept import accept
from workers.commands.base import CommandRequest
from workers.commands.head_history import (
    HeadChange,
    force_pushes,
    head_at_comment,
    resolve_pin,
    timeline_commits,
)
from workers.gates.precheck import precheck
from workers.gates.result import checklist_table


async def commit_to_deploy(req: CommandRequest, env: str, current: str
                           ) -> tuple[str | None, str]:
    """(the commit the comment saw or pinned, "") or (None, the refusal already sent).

    Never a commit date: those are written by whoever pushes. The pull request's recorded
    head changes (GitHub's time of each `pull_request` event) and the timeline's force
    pushes (GitHub's time) decide; `current` is the head GitHub shows now."""
    async with req.ctx.db.connection() as conn:
        records = await pr_heads.history(conn, req.repo, req.pr_number)
    timeline = await req.client.list_timeline(req.repo, req.pr_number)
    changes = [HeadChange(r.at, r.sha, r.source) for r in records] + force_pushes(timeline)
    n, written = req.pr_number, req.comment_created_at
    if req.command.sha is not None:
        pin = resolve_pin(req.command.sha, [*timeline_commits(timeline), current],
                          pr_number=n, comment_at=written, changes=changes)
        if pin.sha is None:
            return None, await req.refuse(
                f"{pin.problem} Nothing was deployed.",
                f"Comment `/deploy {env} <sha>` again with the full 40-character SHA of a "
                f"commit of #{n} (`git rev-parse HEAD` on the branch).")
        return pin.sha, ""
    seen = head_at_comment(written, current, changes)
    if seen.verdict == "moved":
        return None, await req.refuse(
            f"the head of #{n} moved to `{current[:7]}` after your comment, so I deployed "
            "nothing: a push after `/deploy` is never deployed.",
            f"Look at the new commits, then comment `/deploy {env}` again to deploy "
            f"`{current[:7]}`, or `/deploy {env} <sha>` to deploy a commit by name.")
    if seen.verdict == "unknown" or seen.sha is None:
        async with req.ctx.db.connection() as conn:
            await pr_heads.record_observed(conn, repo=req.repo, pr_number=n, sha=current)
        return None, await req.refuse(
            f"I cannot tell which commit was the head of #{n} when you commented: it is "
            f"`{current[:7]}` now, and I have no record of that push arriving before your "
            "comment (commit dates prove nothing), so I deployed nothing.",
            f"Comment `/deploy {env}` again to deploy `{current[:7]}`, or `/deploy {env} "
            "<sha>` to deploy a commit by name.")
    return seen.sha, ""


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
    pinned, refusal = await commit_to_deploy(req, env.name, sha)
    if pinned is None:
        return refusal
    sha = pinned
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
                messages.checklist_refusal(env.name, len(missing), len(results)),
                checklist_table(results))
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
