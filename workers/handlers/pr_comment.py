"""issue_comment.created on a pull request: parse the command, authorize, run it.

Only commenters with at least `read` permission are answered (a parse error, a refusal,
any reply); the words of a comment come back only as inline code (service.commands.echo).

Edited and deleted comments never trigger (only `created` is routed here); comments by bots,
this one included, are ignored."""

from __future__ import annotations

from datetime import datetime

from service.commands import authorization, grammar
from service.config import ConfigError
from workers import messages
from workers.commands import RUNNERS, replies
from workers.commands.base import CommandRequest, see, unsee
from workers.github_source import load_config
from workers.handlers.shape import REPOSITORY, malformed
from workers.jobs.context import WorkerContext
from workers.router import Delivery


def _is_bot(user: dict[str, object]) -> bool:
    login = str(user.get("login") or "")
    return user.get("type") == "Bot" or login.endswith("[bot]")


SHAPE = {"issue": "object", "issue.number": "number", "comment": "object", "comment.id": "id",
         "comment.body": "string?", "comment.user": "object", "comment.user.login": "string",
         "comment.user.type": "string?", "comment.created_at": "time", **REPOSITORY}


async def on_pr_comment(ctx: WorkerContext, d: Delivery) -> str:
    p = d.payload
    if (bad := malformed(p, SHAPE)) is not None:
        return bad
    issue, comment = p["issue"], p["comment"]
    if "pull_request" not in issue:
        return "comment on an issue, not a pull request"
    user = comment["user"]
    if _is_bot(user):
        return "comment by a bot"
    body = comment.get("body") or ""
    if messages.BOT_MARKER in body:
        return "one of our own comments"
    parsed = grammar.parse(body)
    if parsed is None:
        return "no command"
    if d.installation_id is None or d.repo is None:
        return "no installation or repository in the payload"
    client = ctx.github.installation(d.installation_id)
    login = str(user.get("login"))
    comment_id = int(comment["id"])
    pr_number = int(issue["number"])
    # Asked before anything is said: someone below `read` gets no reply and no reaction —
    # not to a parse error, not to a refusal (authorization.answered).
    permission = await client.get_collaborator_permission(d.repo, login)
    if not authorization.answered(permission):
        return f"ignored: {login} has {permission} permission, below read"
    if isinstance(parsed, grammar.ParseError):
        await client.add_reaction_to_comment(d.repo, comment_id, "confused")
        await replies.post(client, d.repo, pr_number, messages.refusal(
            login, messages.PARSE_ERROR.format(message=parsed.message)))
        return f"not a valid command: {parsed.message}"
    seen = await see(client, d.repo, comment_id)  # 👀 before the slower checks below
    repo_info = p.get("repository") or {}
    default_branch = str(repo_info.get("default_branch") or "main")
    try:
        config = await load_config(client, d.repo, default_branch)
    except ConfigError as exc:
        await unsee(client, d.repo, comment_id, seen)
        await client.add_reaction_to_comment(d.repo, comment_id, "confused")
        problems = "\n".join(f"- {x}" for x in exc.problems)
        await replies.post(client, d.repo, pr_number, messages.refusal(
            login, f"`{exc.source}` is invalid, so I cannot run commands until it is fixed:",
            problems))
        return "invalid configuration"
    if not authorization.allowed(permission, parsed, config):
        need = authorization.required(parsed, config)
        await unsee(client, d.repo, comment_id, seen)
        await client.add_reaction_to_comment(d.repo, comment_id, "confused")
        await replies.post(client, d.repo, pr_number,
                           messages.needs_permission(login, parsed, need, permission))
        return f"refused: {login} has {permission}, needs {need}"
    req = CommandRequest(
        ctx=ctx, client=client, repo=d.repo, installation_id=d.installation_id,
        pr_number=pr_number, comment_id=comment_id,
        comment_created_at=datetime.fromisoformat(
            str(comment["created_at"]).replace("Z", "+00:00")),
        user=login, permission=permission, command=parsed, config=config, delivery_id=d.id,
        seen_reaction=seen)
    return await RUNNERS[parsed.name](req)
