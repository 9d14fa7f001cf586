"""Bad input at POST /webhooks (issue 7, item 6): real HTTP against the real app, real
PostgreSQL and Redis, then the real worker on what was recorded.

- Without a valid signature nothing is ever recorded, whatever the body and headers.
- With one, junk is answered 4xx or acknowledged, never 5xx; what is acknowledged as
  accepted is recorded, and only that.
- Signed payloads of handled events in wrong shapes reach the worker, which marks them
  handled at the first attempt with a message — no crash the reconciler retries, no request,
  no check run, no deployment.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import WebConfig, create_app
from service.webhooks.interest import HANDLED
from service.webhooks.signature import sign
from tests.app.bot import (
    REPO,
    Bot,
    button_payload,
    comment_payload,
    merged_payload,
    post_comment,
    push_payload,
    running_bot,
    wait_for,
)
from tests.app.test_pr_deploy import world  # noqa: F401  (fixture)
from tests.conftest import REDIS_URL
from tests.fixture_repo import branch_with
from tests.github_server.server import GitHubTestServer
from tests.http_server import serve

SECRET = "fuzz-secret"
FAST = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# --- what a client may send --------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=15)


def _header_safe(text: str) -> bytes:
    """Any text as a header value an HTTP/1.1 client can send: UTF-8 bytes, no control
    characters, no surrounding whitespace."""
    raw = bytes(b for b in text.encode() if b >= 0x20 and b != 0x7F)
    return raw.strip(b" ")


header_values = st.text(max_size=60).map(_header_safe)
events = st.sampled_from([*HANDLED, "ping", "star", "issues", "installation"]) | header_values
delivery_ids = (st.uuids().map(str) | header_values
                | st.integers(1, 5000).map(lambda n: "d" * n))
content_types = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "", "text/plain",
    "APPLICATION/JSON; charset=utf-8", "application/json; charset=utf-16",
    "multipart/form-data; boundary=x", "application/x-www-form-urlencoded;charset=latin-1",
]) | header_values


def _form(text: str) -> bytes:
    return ("payload=" + quote(text)).encode()


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["action", "zen", "installation", "repository", "issue",
                                     "comment", "ref", "after"]) | st.text(max_size=8),
                    json_values, max_size=6).map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: _form(json.dumps(v))),
    st.sampled_from([b"{", b"[]", b"null", b'{"a": NaN}', b'{"a": 1e999}', b"\xef\xbb\xbf{}",
                     b'{"x": "\\u0000"}', b'{"x": "\\ud800"}', b'{"a":' + b"9" * 5000 + b"}",
                     b"[" * 3000 + b"]" * 3000, b'{"a":' + b"[" * 900 + b"]" * 900 + b"}",
                     _form("{}") + b"&payload=[]", b"payload=%FF%FE", b"payload=%7B%7D"]),
)


def signatures_other_than_valid(body: bytes) -> st.SearchStrategy[bytes | None]:
    good = sign(SECRET, body)
    return st.one_of(
        st.none(),
        header_values,
        st.just(good.upper().encode()),
        st.just(("sha1=" + good[7:]).encode()),
        st.just(good[:-1].encode()),
        st.just(sign("another-secret", body).encode()),
        st.just(sign(SECRET, body + b" ").encode()),
        st.text("0123456789abcdef", min_size=64, max_size=64).map(
            lambda h: f"sha256={h}".encode()),
    ).filter(lambda s: s != good.encode())


# --- the app over HTTP --------------------------------------------------------------------

@pytest.fixture
def web(fresh_db: str, redis_prefix: str) -> Iterator[tuple[str, str]]:
    with serve(create_app(WebConfig(fresh_db, REDIS_URL, SECRET, redis_prefix))) as url:
        yield url, fresh_db


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, bytes | None]
         ) -> httpx.Response:
    sent = {k: v for k, v in headers.items() if v is not None}
    return client.post(f"{url}/webhooks", content=body, headers=sent)


def recorded(db: str) -> dict[str, str]:
    with psycopg.connect(db) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT id, event FROM ledger.deliveries")}


def test_nothing_is_recorded_without_a_valid_signature(web: tuple[str, str]) -> None:
    url, db = web
    answers: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:
        @FAST
        @given(body=bodies, event=events, delivery=delivery_ids, ctype=content_types,
               data=st.data())
        def example(body: bytes, event: bytes | str, delivery: bytes | str, ctype: bytes | str,
                    data: st.DataObject) -> None:
            signature = data.draw(signatures_other_than_valid(body))
            r = post(client, url, body, {
                "X-GitHub-Event": _b(event), "X-GitHub-Delivery": _b(delivery),
                "Content-Type": _b(ctype), "X-Hub-Signature-256": signature})
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
            assert r.status_code == 401, (r.status_code, r.text)
            assert "GITHUB_WEBHOOK_SECRET" in r.json()["error"]

        example()
    assert recorded(db) == {}
    assert sum(answers.values()) >= 50


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _check_answer(r: httpx.Response, event: bytes, delivery: bytes, db: str,
                  accepted: dict[str, str]) -> None:
    """Never a 5xx; 202 `accepted` means recorded under that delivery id."""
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.status_code in (200, 202, 400, 413), (r.status_code, r.text)
    answer = r.json()
    if r.status_code == 200:
        assert event.strip() == b"ping" and "pong" in answer
    elif r.status_code == 202 and "accepted" in answer:
        delivery_id = answer["accepted"]
        assert delivery_id == delivery.decode("latin-1").strip()
        if answer.get("duplicate"):  # the same id drawn twice: recorded the first time
            assert delivery_id in accepted
            return
        rows = recorded(db)
        assert delivery_id in rows and rows[delivery_id] == event.decode("latin-1").strip()
        accepted[delivery_id] = rows[delivery_id]
    elif r.status_code == 202:
        assert set(answer) == {"ignored"}
    else:
        assert answer["error"]  # 400/413 say what is wrong


def test_signed_junk_is_answered_4xx_or_acknowledged_never_5xx(web: tuple[str, str]) -> None:
    url, db = web
    accepted: dict[str, str] = {}
    statuses: set[int] = set()
    with httpx.Client(timeout=30) as client:
        @FAST
        @given(body=bodies, event=events, delivery=delivery_ids, ctype=content_types)
        def example(body: bytes, event: bytes | str, delivery: bytes | str,
                    ctype: bytes | str) -> None:
            r = post(client, url, body, {
                "X-GitHub-Event": _b(event), "X-GitHub-Delivery": _b(delivery),
                "Content-Type": _b(ctype), "X-Hub-Signature-256": sign(SECRET, body).encode()})
            statuses.add(r.status_code)
            _check_answer(r, _b(event), _b(delivery), db, accepted)

        example()
    assert recorded(db) == accepted  # what was answered `accepted`, and nothing else
    assert {202, 400} <= statuses


# --- handled events in the wrong shape ----------------------------------------------------

def _comment(body: str = "/deploy staging") -> dict[str, Any]:
    return comment_payload(body, pr=7, comment_id=4242)


BASES: dict[str, Any] = {
    "issue_comment": _comment,
    "pull_request": lambda: merged_payload(7, "a" * 40),
    "push": lambda: push_payload("b" * 40),
    "check_run": lambda: button_payload(99, "retry"),
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def mutate(payload: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool
           ) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


# The brief's examples, and what each part of the pipeline must make of them.
NAMED: list[tuple[str, dict[str, Any]]] = [
    ("issue_comment", {**_comment(), "issue": None}),
    ("issue_comment", {**_comment(), "comment": ["/deploy staging"]}),
    ("issue_comment", {**_comment(), "installation": {"id": "1"}}),
    ("issue_comment", {k: v for k, v in _comment().items() if k != "repository"}),
    ("issue_comment", {**_comment(), "repository": "octo/backend"}),
    ("issue_comment", mutate(_comment(), ("comment", "id"), "4242", False)),
    ("issue_comment", mutate(_comment(), ("comment", "created_at"), "yesterday", False)),
    ("issue_comment", mutate(_comment(), ("issue", "number"), 2**40, False)),
    ("issue_comment", mutate(_comment(), ("comment", "body"), ["/deploy staging"], False)),
    ("issue_comment", mutate(_comment(), ("comment", "user"), "alice", False)),
    ("push", mutate(push_payload("b" * 40), ("after",), "HEAD", False)),
    ("push", mutate(push_payload("b" * 40), ("pusher",), ["alice"], False)),
    ("pull_request", mutate(merged_payload(7, "a" * 40), ("pull_request",), [], False)),
    ("pull_request", mutate(merged_payload(7, "a" * 40), ("pull_request", "number"), "7",
                            False)),
    ("pull_request", mutate(merged_payload(7, "a" * 40), ("pull_request", "base"), "main",
                            False)),
    ("check_run", mutate(button_payload(99, "retry"), ("check_run", "id"), {"id": 99}, False)),
    ("check_run", mutate(button_payload(99, "retry"), ("requested_action",), "retry", False)),
    ("check_run", mutate(button_payload(99, "retry"), ("sender",), 7, False)),
]


def test_signed_payloads_of_handled_events_in_wrong_shapes_never_5xx(
        web: tuple[str, str]) -> None:
    url, db = web
    accepted: dict[str, str] = {}
    with httpx.Client(timeout=30) as client:
        for event, payload in NAMED:
            body = json.dumps(payload).encode()
            delivery = str(uuid.uuid4()).encode()
            r = post(client, url, body, {"X-GitHub-Event": event.encode(),
                                         "X-GitHub-Delivery": delivery,
                                         "Content-Type": b"application/json",
                                         "X-Hub-Signature-256": sign(SECRET, body).encode()})
            assert r.status_code == 202 and "accepted" in r.json(), (event, r.text)
            _check_answer(r, event.encode(), delivery, db, accepted)

        @FAST
        @given(event=st.sampled_from(sorted(BASES)), data=st.data(), value=json_values,
               delete=st.booleans(), form=st.booleans())
        def example(event: str, data: st.DataObject, value: Any, delete: bool,
                    form: bool) -> None:
            base = BASES[event]()
            path = data.draw(st.sampled_from(_paths(base)))
            text = json.dumps(mutate(base, path, value, delete))
            body = _form(text) if form else text.encode()
            ctype = b"application/x-www-form-urlencoded" if form else b"application/json"
            delivery = str(uuid.uuid4()).encode()
            r = post(client, url, body, {"X-GitHub-Event": event.encode(),
                                         "X-GitHub-Delivery": delivery, "Content-Type": ctype,
                                         "X-Hub-Signature-256": sign(SECRET, body).encode()})
            assert r.status_code == 202, (r.status_code, r.text)  # a JSON object: never 4xx
            _check_answer(r, event.encode(), delivery, db, accepted)

        example()
    assert recorded(db) == accepted


# --- the worker on what was recorded ------------------------------------------------------

async def delivery_row(db: str, delivery_id: str) -> dict[str, Any] | None:
    async with await psycopg.AsyncConnection.connect(db) as conn:
        cur = await conn.execute(
            "SELECT status, attempts, result FROM ledger.deliveries WHERE id = %s",
            (delivery_id,))
        row = await cur.fetchone()
    return None if row is None else {"status": row[0], "attempts": row[1], "result": row[2]}


async def handled(bot: Bot, db: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send a signed delivery and wait until a worker is done with it — or failed it once
    (a crash puts it back to `received` with the error as its result)."""
    delivery = str(uuid.uuid4())
    response = await bot.send(event, payload, delivery)
    assert response.status_code == 202 and response.json() == {"accepted": delivery}
    seen: dict[str, Any] = {}

    async def done() -> bool:
        row = await delivery_row(db, delivery)
        seen.update(row or {})
        return bool(row and (row["status"] in ("processed", "failed")
                             or (row["result"] or "").startswith("attempt")))

    await wait_for(done, what=f"the worker to handle {event}")
    return seen




def nothing_deployed(github: GitHubTestServer, db: str) -> None:
    repo = github.state.repo(REPO)
    assert repo.check_runs == {} and repo.deployments == {}
    with psycopg.connect(db) as conn:
        for table in ("requests", "deployments"):
            row = conn.execute(f"SELECT count(*) FROM ledger.{table}").fetchone()
            assert row is not None and row[0] == 0, table


@pytest.fixture
async def fuzz_bot(world: dict[str, Any], redis_prefix: str,  # noqa: F811
                   github_server: GitHubTestServer) -> AsyncIterator[tuple[Bot, str]]:
    """The whole bot, with PR 7 open and alice (write) allowed to deploy staging."""
    sha = branch_with(world["repo"], "feature", {"README.md": "fuzz\n"})
    github_server.state.add_pull(REPO, 7, head_sha=sha, user_login="alice")
    async with running_bot(github_server, world["bot"], redis_prefix, world["data"]) as bot:
        yield bot, world["bot"]


# What each handler reads, and values of the wrong kind for it (None: deleted or null).
_not_object = st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=5),
                        st.integers(), st.booleans())
# (NaN and Infinity are not JSON: the intake answers them 400, as it should; a whole number
# written as a float, 7.0, is the number 7 in JSON)
_not_id = st.one_of(st.text(max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False).filter(
                        lambda f: not f.is_integer()), st.booleans(),
                    st.integers(max_value=0), st.integers(min_value=2**63),
                    st.lists(st.integers(), max_size=2), st.just({"id": 1}))
_not_string = st.one_of(st.integers(), st.lists(st.text(max_size=3), max_size=2),
                        st.booleans(), st.just({"a": "b"}))
_not_bool = st.one_of(st.integers(), st.text(max_size=3), st.lists(st.booleans(), max_size=2))
_not_time = st.one_of(st.sampled_from(["yesterday", "", "2026-13-01T00:00:00Z",
                                       "2026-01-07T09:00:00"]), _not_string)
_not_sha = st.one_of(st.sampled_from(["HEAD", "main", "deadbeef", "G" * 40, "a" * 39]),
                     _not_string)
READS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "issue_comment": {
        "issue": _not_object | st.none(), "issue.number": _not_id | st.none(),
        "comment": _not_object | st.none(), "comment.id": _not_id | st.none(),
        "comment.user": _not_object | st.none(), "comment.user.login": _not_string,
        "comment.created_at": _not_time | st.none(), "comment.body": _not_string,
        "repository": _not_object, "repository.default_branch": _not_string,
        "repository.full_name": st.sampled_from(["octo", "../octo/backend", "a/b/c", "o/b?x"]),
    },
    "pull_request": {
        "pull_request": _not_object | st.none(), "pull_request.number": _not_id,
        "pull_request.merged": _not_bool, "pull_request.merge_commit_sha": _not_sha,
        "pull_request.merged_by": _not_object, "pull_request.base": _not_object,
        "pull_request.base.ref": _not_string,
    },
    "push": {"ref": _not_string | st.none(), "after": _not_sha | st.none(),
             "pusher": _not_object, "pusher.name": _not_string, "sender": _not_object},
    "check_run": {"check_run": _not_object | st.none(), "check_run.id": _not_id | st.none(),
                  "requested_action": _not_object | st.none(),
                  "requested_action.identifier": _not_string | st.none(),
                  "sender": _not_object, "sender.login": _not_string},
}
# A malformed delivery is told apart by its result; these came through the intake's own
# reading of `repository` and `installation` (which never crashes) instead.
INTAKE_NOTES = ("no installation or repository in the payload", "no repository in the payload",
                "unknown action")


def _set(payload: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    return mutate(payload, tuple(dotted.split(".")), value, delete=value is None)


def _base(event: str, github: GitHubTestServer) -> dict[str, Any]:
    if event == "issue_comment":
        return post_comment(github, "/deploy staging", pr=7)
    return BASES[event]()


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), event=st.sampled_from(sorted(READS)))
async def test_the_worker_ends_shape_broken_deliveries_at_once_and_deploys_nothing(
        fuzz_bot: tuple[Bot, str], github_server: GitHubTestServer, data: st.DataObject,
        event: str) -> None:
    bot, db = fuzz_bot
    path = data.draw(st.sampled_from(sorted(READS[event])), label="path")
    value = data.draw(READS[event][path], label="value")
    row = await handled(bot, db, event, _set(_base(event, github_server), path, value))
    assert row["status"] == "processed" and row["attempts"] == 1, row
    assert row["result"].startswith("ignored: malformed payload") or any(
        note in row["result"] for note in INTAKE_NOTES), row
    nothing_deployed(github_server, db)


async def test_the_briefs_examples_end_handled_once_with_a_message(
        fuzz_bot: tuple[Bot, str], github_server: GitHubTestServer) -> None:
    bot, db = fuzz_bot
    results = []
    for event, payload in NAMED:
        row = await handled(bot, db, event, payload)
        assert row["status"] == "processed" and row["attempts"] == 1, (payload, row)
        results.append(row["result"])
    assert all(r for r in results)
    assert sum("malformed payload" in r for r in results) >= len(NAMED) - 4, results
    nothing_deployed(github_server, db)
    # The worker loop is still alive: a good comment afterwards is handled as usual.
    good = post_comment(github_server, "/wcid", pr=7)
    row = await handled(bot, db, "issue_comment", good)
    assert row["status"] == "processed" and "malformed" not in row["result"], row
    await wait_for(lambda: any(c["body"].startswith("<!-- deploybot -->")
                               for c in github_server.state.repo(REPO).comments_on(7)),
                   what="the /wcid reply")
