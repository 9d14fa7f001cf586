"""/cancel: withdraw one's own queued requests on this pull request."""

from __future__ import annotations

import logging

from service.ledger import requests
from workers import messages
from workers.commands.base import CommandRequest

log = logging.getLogger(__name__)


async def run_cancel(req: CommandRequest) -> str:
    async with req.ctx.db.connection() as conn:
        cancelled = await requests.cancel(conn, req.repo, req.pr_number, req.user)
    for row in cancelled:
        try:
            if row["check_run_id"]:
                await req.client.update_check_run(
                    req.repo, row["check_run_id"], status="completed", conclusion="cancelled",
                    output=messages.withdrawn_output("cancelled", req.user))
            if row["gh_deployment_id"]:
                await req.client.create_deployment_status(
                    req.repo, row["gh_deployment_id"], state="inactive",
                    description=f"cancelled by {req.user}",
                    log_url=req.ctx.request_url(int(row["id"])),
                    environment_url=req.ctx.environment_url(
                        req.repo, req.config.environment(row["environment"]),
                        row["environment"]))
        except Exception:  # the cancel itself is recorded; reporting may lag
            log.warning("could not report cancelled request %s", row["id"], exc_info=True)
    if not cancelled:
        await req.react("confused")
        await req.reply(messages.refusal(req.user, messages.NOTHING_TO_CANCEL,
                                         messages.NOTHING_TO_CANCEL_FIX))
        return "nothing to cancel"
    await req.react("+1")
    listed = ", ".join(f"{messages.kind_words(r['kind'])} to `{r['environment']}`"
                       for r in cancelled)
    await req.reply(messages.reply(messages.WITHDRAWN.format(user=req.user, listed=listed)))
    return f"cancelled {len(cancelled)}"
