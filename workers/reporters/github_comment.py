"""Reporter: one summary comment per deployment on its pull request, edited in place.

It is short — the headline, the step table, why it failed, and links to the check run (where
the logs are, folded) and the dashboard — so a pull request's conversation stays readable."""

from __future__ import annotations

import logging

from service.github.client import InstallationClient
from workers import messages
from workers.gates.promotion import Promotion
from workers.reporters import markdown
from workers.reporters.debounced import Debounced
from workers.reporters.github_check_run import promotion_verdict

log = logging.getLogger(__name__)

SUMMARY = "{marker}\n{body}"


class SummaryCommentReporter(Debounced):
    interval = 5.0  # comments are read by people: fewer, calmer edits

    def __init__(self, client: InstallationClient, repo: str, pr_number: int, request_id: int, *,
                 log_url: str | None, check_run_id: int | None = None,
                 promotion: Promotion | None = None, mention: str | None = None,
                 interval: float | None = None) -> None:
        super().__init__(interval)
        self.client = client
        self.repo = repo
        self.pr_number = pr_number
        self.marker = messages.deployment_marker(request_id)
        self.log_url = log_url
        self.check_run_id = check_run_id
        self.check_run_url: str | None = None
        self.promotion = promotion
        self.mention = mention
        self.comment_id: int | None = None

    def body(self, promotion: str = "") -> str:
        return SUMMARY.format(marker=self.marker, body=markdown.comment(
            self.progress, check_run_url=self.check_run_url, log_url=self.log_url,
            promotion=promotion, mention=self.mention))

    async def _find(self) -> int | None:
        for comment in await self.client.list_comments(self.repo, self.pr_number):
            if self.marker in (comment.get("body") or ""):
                return int(comment["id"])
        return None

    async def _link(self) -> None:
        """The check run's page on GitHub (where the logs are), asked for once."""
        if self.check_run_url is not None or self.check_run_id is None:
            return
        try:
            run = await self.client.get_check_run(self.repo, self.check_run_id)
        except Exception:  # a missing link is no reason to leave the comment stale
            log.warning("could not read check run %s for its link", self.check_run_id,
                        exc_info=True)
            return
        url = run.get("html_url") if isinstance(run, dict) else None
        self.check_run_url = url if isinstance(url, str) and url else None

    async def publish(self, final: bool) -> None:
        await self._link()
        p = self.progress
        verdict = await promotion_verdict(self.promotion, p.outcome, p.dry_run) if final \
            else None
        body = self.body(verdict.sentence() if verdict else "")
        if self.comment_id is None:
            self.comment_id = await self._find()  # a retried job edits its own comment
        if self.comment_id is None:
            created = await self.client.create_comment(self.repo, self.pr_number, body,
                                                       log_url=self.log_url)
            self.comment_id = int(created["id"])
        else:
            await self.client.update_comment(self.repo, self.comment_id, body,
                                             log_url=self.log_url)
