"""Reading a webhook body: the fields the intake needs and the text it stores, by msgspec
for what GitHub sends and the stdlib for the rest, with the same answer either way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from service.ledger import deliveries, pr_heads
from service.ledger.db import ensure_schema
from service.webhooks import payload as payloads
from service.webhooks.payload import Payload, PayloadError, decode

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "github-payloads"
HEAD = "c" * 40


def _full(body: bytes) -> Payload:
    return payloads._decode_full(body)


def test_every_real_payload_reads_the_same_fields_fast_and_in_full() -> None:
    files = sorted(PAYLOADS.glob("*/*.json"))
    assert len(files) >= 70
    read = []
    for path in files:
        body = path.read_bytes()
        fast = payloads._decode_fast(body)
        assert fast is not None, path  # GitHub's payloads take the fast path
        assert fast == _full(body), path
        assert fast.text == body.decode()  # stored as received
        read.append(fast)
    comment = decode((PAYLOADS / "issue_comment" / "created.payload.json").read_bytes(),
                     "application/json")
    assert comment.action == "created" and comment.repo and comment.comment_body
    assert any(p.installation_id for p in read) and sum(1 for p in read if p.repo) > 50


@pytest.mark.parametrize("body", [
    b'{"installation": "x", "repository": [1], "comment": 7, "action": 3}',
    b'{"installation": {"id": true}, "repository": {"full_name": 5}, "comment": null}',
    b'{"installation": {"id": 99999999999999999999}, "action": "created"}',
    b'{"zen": 123456789012345678901234567890}',
])
def test_fields_of_another_type_are_none_on_either_path(body: bytes) -> None:
    got = decode(body, "application/json")
    assert got == _full(body)
    assert got.installation_id is None and got.repo is None and got.comment_body is None


def test_a_form_encoded_body_reads_as_its_json() -> None:
    data = {"action": "created", "comment": {"body": "/deploy staging"},
            "repository": {"full_name": "o/r"}, "installation": {"id": 5}}
    form = ("payload=" + quote(json.dumps(data))).encode()
    got = decode(form, "application/x-www-form-urlencoded")
    assert got == decode(json.dumps(data).encode(), "application/json")
    assert (got.repo, got.installation_id, got.comment_body) == ("o/r", 5, "/deploy staging")


@pytest.mark.parametrize("body", [
    b'{"comment": {"body": "nul \\u0000 here"}}',
    b'{"comment": {"body": "lone \\ud800 surrogate"}}',
])
def test_what_postgresql_cannot_hold_is_repaired(body: bytes) -> None:
    got = decode(body, "application/json")
    assert got.comment_body is not None and "\ufffd" in got.comment_body
    assert "\\u0000" not in got.text and "\\ud800" not in got.text
    assert json.loads(got.text)["comment"]["body"] == got.comment_body


@pytest.mark.parametrize(("body", "message"), [
    (b"", "not JSON"), (b"[]", "JSON object"), (b'{"a": NaN}', "NaN is not JSON"),
    (b'{"a": "\xff"}', "not UTF-8"), (b"\xef\xbb\xbf{}", "not JSON"),
    (b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}", "nested too deeply"),
])
def test_what_is_not_a_payload_says_why(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode(body, "application/json")


async def test_numbers_of_any_size_are_stored_as_sent_and_read_back(fresh_db: str) -> None:
    """The fast path skips numbers without converting them; PostgreSQL keeps the text, and
    the worker and the pending-heads query read them without failing."""
    huge = "9" * 5000
    pull = (f'{{"number": 7, "head": {{"sha": "{HEAD}"}}, "big": {huge}, "far": 1e999999, '
            f'"near": 1e-999999}}')
    body = (f'{{"action": "synchronize", "number": 7, "pull_request": {pull}, '
            f'"repository": {{"full_name": "o/r"}}, "installation": {{"id": 1}}}}').encode()
    got = decode(body, "application/json")
    assert got.text == body.decode() and got.repo == "o/r"

    read = deliveries.read_payload(got.text)
    assert read["pull_request"]["head"]["sha"] == HEAD
    assert read["pull_request"]["far"] == float("inf") and read["pull_request"]["near"] == 0

    await ensure_schema(fresh_db)
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        await conn.execute(
            """INSERT INTO ledger.deliveries (id, event, action, installation_id, repo,
                                              payload)
               VALUES ('d-big', 'pull_request', 'synchronize', 1, 'o/r', %s)""", (got.text,))
        row = await deliveries.claim(conn, "d-big")
        assert row is not None and deliveries.read_payload(row["payload"]) == read
        await deliveries.release(conn, "d-big", "for the pending-heads query")
        heads = await pr_heads.history(conn, "o/r", 7)
    assert [(h.sha, h.source) for h in heads] == [(HEAD, "synchronize")]
    assert heads[0].at <= datetime.now(UTC)
