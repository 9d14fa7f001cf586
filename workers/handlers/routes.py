"""Which handler answers which webhook: every route of the worker, in one place.

The intake's list of events it lets in (service/webhooks/interest.py) is checked against
these routes by tests/service/test_routes_match_intake.py."""

from __future__ import annotations

from workers.handlers import check_run, merge, pr_comment, pr_head
from workers.router import Route, Router

ROUTES: tuple[Route, ...] = (
    Route("issue_comment", "created", pr_comment.on_pr_comment),
    *(Route("pull_request", action, pr_head.on_head_change) for action in pr_head.HEAD_ACTIONS),
    Route("pull_request", "closed", merge.on_pr_closed),
    Route("push", None, merge.on_push),
    Route("check_run", "requested_action", check_run.on_requested_action),
    Route("check_run", "rerequested", check_run.on_rerequested),
    Route("check_suite", "rerequested", check_run.on_suite_rerequested),
)

ROUTER = Router(ROUTES)
