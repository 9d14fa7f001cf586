"""A burst of signed webhook deliveries as GitHub sends them, fired at a `/webhooks` endpoint
with bounded concurrency; shared by tests/faults/test_webhook_burst.py and
benchmarks/webhook_burst.py.

The filler is what a busy repository mostly sends: comments that are not commands, pushes
to branches no environment deploys, pull requests closed unmerged (the intake records
these and a worker handles them as no-ops), and events the bot has no handler for (check
suites, labels, deployment statuses, edits, pings), which the intake acknowledges without
recording (service/webhooks/interest.py). Payloads are the stored real
ones under github-payloads/, re-pointed at the repository."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from service.webhooks.interest import is_handled
from service.webhooks.signature import sign
from tests.app.bot import PAYLOADS, comment_payload

CHATTER = ("LGTM", "Looks good to me, thanks!", "nit: rename this?", "Could you rebase?",
           "deploy staging please", "I'll take a look tomorrow", "👍", "/ deploy is a typo")
IGNORED = [("check_suite", "completed.payload.json"), ("check_run", "completed.payload.json"),
           ("pull_request", "labeled.payload.json"), ("pull_request", "synchronize.payload.json"),
           ("pull_request", "opened.payload.json"), ("deployment_status", "payload.json"),
           ("issue_comment", "edited.payload.json"), ("ping", "payload.json")]


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    body: bytes
    kind: str  # what it stands for, for the checks: chatter, push, closed, ignored, help, …

    @property
    def recorded(self) -> bool:
        """Whether the intake records it (the others are acknowledged and dropped)."""
        action = json.loads(self.body).get("action")
        return self.event != "ping" and is_handled(self.event, action)

    def headers(self, secret: str) -> dict[str, str]:
        return {"X-GitHub-Event": self.event, "X-GitHub-Delivery": self.id,
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(secret, self.body)}


def delivery(event: str, payload: dict[str, Any], kind: str) -> Delivery:
    return Delivery(str(uuid.uuid4()), event, json.dumps(payload).encode(), kind)


@functools.cache
def _stored(event: str, name: str) -> str:
    return (PAYLOADS / event / name).read_text()


def _payload(event: str, name: str, repo: str, installation_id: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_stored(event, name))
    owner, short = repo.split("/")
    if isinstance(data.get("repository"), dict):
        data["repository"].update({"full_name": repo, "name": short, "default_branch": "main"})
        data["repository"]["owner"]["login"] = owner
    data["installation"] = {"id": installation_id}
    return data


def pings(n: int, *, repo: str, installation_id: int) -> list[Delivery]:
    """Deliveries every endpoint answers without recording: a warm-up."""
    return [delivery("ping", _payload("ping", "payload.json", repo, installation_id),
                     "ignored") for _ in range(n)]


def filler(n: int, *, repo: str, installation_id: int, seed: int = 7,
           first_comment_id: int = 10**8) -> list[Delivery]:
    """`n` deliveries that change nothing: 40 % chatter, 10 % pushes to feature branches,
    5 % pull requests closed unmerged, 45 % events that are not handled at all."""
    rng = random.Random(seed)
    out: list[Delivery] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.40:
            data = comment_payload(rng.choice(CHATTER), pr=rng.randint(1, 60),
                                   comment_id=first_comment_id + i, repo=repo,
                                   installation_id=installation_id)
            out.append(delivery("issue_comment", data, "chatter"))
        elif roll < 0.50:
            data = _payload("push", "payload.json", repo, installation_id)
            data.update({"ref": f"refs/heads/feature-{i}", "after": secrets.token_hex(20),
                         "deleted": False})
            out.append(delivery("push", data, "push"))
        elif roll < 0.55:
            data = _payload("pull_request", "closed.payload.json", repo, installation_id)
            data["number"] = data["pull_request"]["number"] = 5000 + i
            data["pull_request"]["merged"] = False
            out.append(delivery("pull_request", data, "closed"))
        else:
            event, name = IGNORED[i % len(IGNORED)]
            out.append(delivery(event, _payload(event, name, repo, installation_id),
                                "ignored"))
    return out


@dataclass(frozen=True)
class Ack:
    delivery: Delivery
    status: int  # 0: no answer (connection error or timeout)
    seconds: float  # request sent → answer read
    answer: dict[str, Any]


@dataclass(frozen=True)
class Fired:
    acks: list[Ack]  # in the deliveries' order
    wall: float  # seconds, first sent → last answer read
    cpu: float  # CPU seconds this process used meanwhile (every thread's)


async def fire(url: str, deliveries: list[Delivery], secret: str, *,
               concurrency: int = 64, request_timeout: float = 60.0,
               warmup: list[Delivery] | None = None) -> Fired:
    """POST every delivery with `concurrency` in flight: that many lanes, each an
    httpx.AsyncClient with one kept-alive connection, taking the next delivery when its
    answer is in. A delivery's latency runs from sending it to reading its answer. `warmup`
    is sent first, untimed, to open the connections.

    Not one shared client with `concurrency` connections: at 64 its pool costs ~3.6 ms of
    client CPU per request (lanes: under 1 ms), and its queueing alone gave a no-op endpoint
    a p99 of ~1.5 s — it measured itself, not the server."""
    pending = iter(enumerate(deliveries))  # lanes share it; no await between next() calls
    acks: list[Ack | None] = [None] * len(deliveries)

    async def post(client: httpx.AsyncClient, d: Delivery) -> Ack:
        started = time.perf_counter()
        try:
            r = await client.post(url, content=d.body, headers=d.headers(secret))
        except httpx.HTTPError as exc:
            return Ack(d, 0, time.perf_counter() - started, {"error": repr(exc)})
        took = time.perf_counter() - started
        try:
            answer = r.json()
        except ValueError:
            answer = {"text": r.text[:200]}
        return Ack(d, r.status_code, took, answer if isinstance(answer, dict) else {})

    async def lane(client: httpx.AsyncClient) -> None:
        for i, d in pending:
            acks[i] = await post(client, d)

    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(
            httpx.AsyncClient(limits=one, timeout=request_timeout)) for _ in range(concurrency)]
        warm = warmup or []
        await asyncio.gather(*(post(clients[i % concurrency], d) for i, d in enumerate(warm)))
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(lane(c) for c in clients))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Fired([a for a in acks if a is not None], wall, cpu)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0–100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(acks: list[Ack], wall: float) -> str:
    ms = [a.seconds * 1000 for a in acks]
    return (f"{len(acks)} acks in {wall:.2f} s ({len(acks) / wall:.0f}/s); latency p50 "
            f"{percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, p99 "
            f"{percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms")
