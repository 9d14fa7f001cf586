"""POST /webhooks through real HTTP, with the real PostgreSQL and Redis behind it."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
import redis

from service.app import WebConfig, create_app
from service.observability import logs
from service.queue import delivery_job_id
from service.webhooks.signature import sign
from tests.conftest import REDIS_URL
from tests.http_server import serve

SECRET = "s3cret-for-tests"
PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "github-payloads"


@pytest.fixture
def web(fresh_db: str, redis_prefix: str) -> Iterator[tuple[str, str, str]]:
    app = create_app(WebConfig(fresh_db, REDIS_URL, SECRET, redis_prefix))
    with serve(app) as url:
        yield url, fresh_db, redis_prefix


def post(url: str, event: str, body: bytes, *, delivery: str | None = None,
         secret: str = SECRET, content_type: str = "application/json") -> httpx.Response:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "Content-Type": content_type, "X-Hub-Signature-256": sign(secret, body)}
    return httpx.post(f"{url}/webhooks", content=body, headers=headers, timeout=30)


def delivery_rows(db: str) -> list[tuple[str, str]]:
    with psycopg.connect(db) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT id, event FROM ledger.deliveries ORDER BY received_at")]


def comment_payload() -> dict[str, object]:
    data = json.loads((PAYLOADS / "issue_comment" / "created.payload.json").read_text())
    data["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    data["comment"]["body"] = "/deploy staging"
    return data


def test_every_real_payload_gets_a_2xx(web: tuple[str, str, str]) -> None:
    url, _, _ = web
    files = sorted(PAYLOADS.glob("*/*.json"))
    assert len(files) >= 70
    for path in files:
        r = post(url, path.parent.name, path.read_bytes())
        assert 200 <= r.status_code < 300, (path, r.status_code, r.text)


def test_a_handled_delivery_is_recorded_and_enqueued_once(web: tuple[str, str, str]) -> None:
    url, db, prefix = web
    body = json.dumps(comment_payload()).encode()
    delivery = str(uuid.uuid4())
    first = post(url, "issue_comment", body, delivery=delivery)
    assert first.status_code == 202 and first.json() == {"accepted": delivery}
    again = post(url, "issue_comment", body, delivery=delivery)  # a redelivery
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert delivery_rows(db) == [(delivery, "issue_comment")]
    r = redis.Redis.from_url(REDIS_URL)
    try:
        assert r.exists(f"arq:job:{delivery_job_id(prefix, delivery)}") == 1
        assert r.zcard(f"{prefix}queue") == 1
    finally:
        r.close()


def test_bad_or_missing_signature_is_401_and_records_nothing(web: tuple[str, str, str]) -> None:
    url, db, _ = web
    body = json.dumps(comment_payload()).encode()
    assert post(url, "issue_comment", body, secret="wrong").status_code == 401
    r = httpx.post(f"{url}/webhooks", content=body, headers={
        "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "x",
        "Content-Type": "application/json"})
    assert r.status_code == 401 and "GITHUB_WEBHOOK_SECRET" in r.json()["error"]
    assert delivery_rows(db) == []


def test_form_encoded_payloads_are_accepted(web: tuple[str, str, str]) -> None:
    url, db, _ = web
    body = ("payload=" + quote(json.dumps(comment_payload()))).encode()
    r = post(url, "issue_comment", body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 202
    assert len(delivery_rows(db)) == 1


def test_ping_unknown_events_and_bad_bodies(web: tuple[str, str, str]) -> None:
    url, db, _ = web
    assert post(url, "ping", b'{"zen": "Keep it logically awesome."}').status_code == 200
    assert post(url, "star", b'{"action": "created"}').status_code == 202
    assert post(url, "pull_request", b'{"action": "labeled"}').json() == {
        "ignored": "pull_request.labeled"}
    bad = post(url, "issue_comment", b"{not json")
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    assert post(url, "issue_comment", b"[1, 2]").status_code == 400
    assert post(url, "issue_comment", b"\xff\xfe").status_code == 400
    assert post(url, "issue_comment", b"{}", content_type="text/plain").status_code == 400
    assert delivery_rows(db) == []


def test_oversized_body_is_413(web: tuple[str, str, str]) -> None:
    url, db, _ = web
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    assert post(url, "issue_comment", body).status_code == 413
    assert delivery_rows(db) == []


def test_health_and_readiness(web: tuple[str, str, str]) -> None:
    url, _, _ = web
    assert httpx.get(f"{url}/healthz").json() == {"ok": True}
    assert httpx.get(f"{url}/readyz").json() == {"ok": True}


def test_answers_carry_the_security_headers_and_only_post_is_taken(
        web: tuple[str, str, str]) -> None:
    url, _, _ = web
    r = post(url, "issue_comment", json.dumps(comment_payload()).encode())
    assert r.status_code == 202 and r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    other = httpx.get(f"{url}/webhooks")
    assert other.status_code == 405 and other.headers["allow"] == "POST"


class _Contexts(logging.Handler):
    """Keeps each record's log context (the ids a JSON log line carries)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[tuple[str, dict[str, object]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), logs.current()))


def test_a_failure_is_a_500_logged_with_its_delivery_and_counted(
        web: tuple[str, str, str]) -> None:
    url, db, prefix = web
    with psycopg.connect(db, autocommit=True) as conn:  # the ledger's table gone: inserts fail
        conn.execute("ALTER TABLE ledger.deliveries RENAME TO deliveries_elsewhere")
    handler = _Contexts()
    logging.getLogger("service.webhooks.endpoint").addHandler(handler)
    try:
        delivery = str(uuid.uuid4())
        r = post(url, "issue_comment", json.dumps(comment_payload()).encode(),
                 delivery=delivery)
    finally:
        logging.getLogger("service.webhooks.endpoint").removeHandler(handler)
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert [(m, c.get("delivery_id")) for m, c in handler.seen] == [
        ("POST /webhooks failed", delivery)]
    client = redis.Redis.from_url(REDIS_URL)
    try:  # counters reach Redis about once a second
        field = json.dumps({"component": "web", "where": "/webhooks"}, sort_keys=True,
                           separators=(",", ":"))
        for _ in range(100):
            if client.hget(f"{prefix}metrics:errors_total", field) is not None:
                break
            time.sleep(0.1)
        assert float(client.hget(f"{prefix}metrics:errors_total", field) or 0) == 1
    finally:
        client.close()
