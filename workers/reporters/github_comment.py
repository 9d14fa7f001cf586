"""Reporter: one summary comment per deployment on its pull request, edited in place."""

from __future__ import annotations

from service.github.client import InstallationClient
from workers import messages
from workers.reporters import markdown
from workers.reporters.debounced import Debounced

COMMENT_LIMIT = 65_536


class SummaryCommentReporter(Debounced):
    interval = 5.0  # comments are read by people: fewer, calmer edits

    def __init__(self, client: InstallationClient, repo: str, pr_number: int, request_id: int, *,
                 log_url: str | None, mention: str | None = None,
                 interval: float | None = None) -> None:
        super().__init__(interval)
        self.client = client
        self.repo = repo
        self.pr_number = pr_number
        self.marker = messages.deployment_marker(request_id)
        self.log_url = log_url
        self.mention = mention
        self.comment_id: int | None = None

    def body(self) -> str:
        parts = [self.marker, markdown.summary(self.progress, self.log_url)]
        if self.mention and self.progress.outcome is not None:
            parts.insert(1, f"@{self.mention}")
        budget = COMMENT_LIMIT - sum(len(p) for p in parts) - 100
        logs = markdown.logs(self.progress, limit=min(budget, 20_000), log_url=self.log_url)
        if logs:
            parts.append(logs)
        return "\n\n".join(parts)

    async def _find(self) -> int | None:
        for comment in await self.client.list_comments(self.repo, self.pr_number):
            if self.marker in (comment.get("body") or ""):
                return int(comment["id"])
        return None

    async def publish(self, final: bool) -> None:
        if self.comment_id is None:
            self.comment_id = await self._find()  # a retried job edits its own comment
        if self.comment_id is None:
            created = await self.client.create_comment(self.repo, self.pr_number, self.body(),
                                                       log_url=self.log_url)
            self.comment_id = int(created["id"])
        else:
            await self.client.update_comment(self.repo, self.comment_id, self.body(),
                                             log_url=self.log_url)
