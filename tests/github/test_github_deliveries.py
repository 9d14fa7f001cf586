"""Webhook deliveries through the App's JWT: listing with cursors, redelivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.github import GitHubNotFound
from tests.github.support import MakeApp
from tests.github_server import GitHubTestServer
from tests.http_server import serve


async def test_deliveries_are_listed_page_by_page_with_a_cursor(
        github_server: GitHubTestServer, make_app: MakeApp) -> None:
    for i in range(7):
        github_server.state.add_delivery(event="issue_comment", action="created",
                                         status_code=502 if i % 3 == 0 else 202)
    app = await make_app()

    page, cursor = await app.list_hook_deliveries(per_page=3)
    assert len(page) == 3 and cursor is not None
    everything = [d async for d in app.iter_hook_deliveries(per_page=3)]

    ids = [d["id"] for d in everything]
    assert len(ids) == 7 and ids == sorted(ids, reverse=True)  # newest first, no repeats
    assert "_request" not in everything[0]
    assert len(github_server.calls("GET", "/app/hook/deliveries")) == 1 + 3
    assert {r.auth for r in github_server.calls(path="/app/*")} == {"jwt"}


class _Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, bool]] = []
        self.secret = "s3cret"

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, request.headers["x-hub-signature-256"])
        self.got.append((request.headers["x-github-event"],
                         request.headers["x-github-delivery"], valid))
        return Response(status_code=202)


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, str]]:
    r = _Receiver()
    with serve(Starlette(routes=[Route("/webhooks", r.hook, methods=["POST"])])) as url:
        yield r, f"{url}/webhooks"


async def test_redelivery_sends_the_same_delivery_again(
        github_server: GitHubTestServer, make_app: MakeApp,
        receiver: tuple[_Receiver, str]) -> None:
    hook, url = receiver
    github_server.set_webhook_target(url, hook.secret)
    sent = await github_server.send_webhook("issue_comment", {"action": "created",
                                                              "installation": {"id": 1}})
    app = await make_app()

    await app.redeliver(sent["id"])
    # The server redelivers after answering 202, and records the redelivery only once the
    # hook has answered it: wait for both, or the listing below races the record.
    for _ in range(500):
        if len(hook.got) == 2 and len(github_server.state.deliveries) == 2:
            break
        await asyncio.sleep(0.01)

    assert hook.got == [("issue_comment", sent["guid"], True)] * 2
    assert github_server.state.redelivery_attempts == [sent["id"]]
    latest = (await app.list_hook_deliveries())[0][0]
    assert latest["redelivery"] is True and latest["guid"] == sent["guid"]
    with pytest.raises(GitHubNotFound):
        await app.redeliver(999_999)
