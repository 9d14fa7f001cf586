"""/deploy <env> [<sha>] [--noop]: deploy the pull request's head commit as it was when the
comment was written, or the commit of the pull request the comment names."""

from __future__ import annotations

from service.commands.echo import code
from service.ledger import pr_heads, requests
from service.ledger.deployments import Ledger
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
from workers.deploy import record_refusal
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
                messages.PIN_UNRESOLVED.format(problem=pin.problem),
                messages.PIN_UNRESOLVED_FIX.format(environment=env, pr=n))
        return pin.sha, ""
    seen = head_at_comment(written, current, changes)
    if seen.verdict == "moved":
        return None, await req.refuse(
            messages.HEAD_MOVED.format(pr=n, head=current[:7]),
            messages.HEAD_MOVED_FIX.format(environment=env, head=current[:7]))
    if seen.verdict == "unknown" or seen.sha is None:
        async with req.ctx.db.connection() as conn:
            await pr_heads.record_observed(conn, repo=req.repo, pr_number=n, sha=current)
        return None, await req.refuse(
            messages.HEAD_UNKNOWN.format(pr=n, head=current[:7]),
            messages.HEAD_UNKNOWN_FIX.format(environment=env, head=current[:7]))
    return seen.sha, ""


async def run_deploy(req: CommandRequest) -> str:
    env = await req.environment()
    if env is None:
        return "unknown environment"
    pull = await req.client.get_pull(req.repo, req.pr_number)
    if pull.get("state") != "open":
        return await req.refuse(
            messages.PULL_NOT_OPEN.format(pr=req.pr_number, state=pull.get("state")),
            messages.PULL_NOT_OPEN_FIX)
    head = pull["head"]
    sha = str(head["sha"])
    head_repo = (head.get("repo") or {}).get("full_name")
    if head_repo != req.repo and not req.config.allow_forks:
        return await req.refuse(messages.FORK, messages.FORK_FIX)
    pinned, refusal = await commit_to_deploy(req, env.name, sha)
    if pinned is None:
        return refusal
    sha = pinned
    async with req.ctx.db.connection() as conn:
        lock = await lock_of(conn, req.repo, env.name)
    if lock is not None and lock["pr_number"] != req.pr_number:
        return await req.refuse(
            messages.LOCKED_BY_OTHER.format(
                environment=env.name, owner=lock["owner"], pr=lock["pr_number"],
                reason=f" ({code(lock['reason'])})" if lock["reason"] else ""),
            messages.LOCKED_BY_OTHER_FIX.format(environment=env.name))
    if env.production and not req.command.noop:
        results, missing = await precheck(req.ctx, req.client, env, repo=req.repo, commit=sha,
                                          pr_number=req.pr_number,
                                          forced_reason=req.command.reason)
        if missing:
            async with req.ctx.db.connection() as conn:  # the audit trail keeps every refusal
                await record_refusal(
                    Ledger(conn), repo=req.repo, environment=env.name, commit=sha,
                    ref=str(head.get("ref") or ""), trigger="comment", requested_by=req.user,
                    pr_number=req.pr_number, forced_reason=req.command.reason,
                    results=results, source="github")
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
