"""The running app against its own OpenAPI description (issue 7, item 6), with schemathesis
over real HTTP: no 5xx anywhere, and every answer as described (status, content type,
body schema). Twice: as a stranger, and signed in as the operator with same-site forms,
so the dashboard's pages and buttons run their queries too. Webhook bodies that arrive
without a signature are signed, so the intake's deeper paths run as well."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from starlette.routing import Mount, Route

from service.app import WebConfig, create_app
from service.dashboard.config import DashboardConfig
from service.openapi import FORM, description
from service.webhooks.signature import sign
from tests.conftest import REDIS_URL
from tests.http_server import serve

SECRET = "schemathesis-secret"
TOKEN = "operator-token-for-schemathesis"
API_TOKEN = "api-token-for-schemathesis"
# Per operation and pass: about 500 requests in all. A deeper run by hand:
# SCHEMATHESIS_EXAMPLES=300 .venv/bin/pytest tests/faults/test_schemathesis.py
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "12"))
# Reaching every route in one pass matters more here than many examples per route.
PER_OPERATION = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))


# Requests no schema can make valid: they must carry a state this server issued to this
# browser (schemathesis still checks that they never fail with a 5xx and are described).
NEEDS_SERVER_STATE = {"GET /auth/callback", "GET /setup/callback"}


def test_every_route_is_described() -> None:
    app = create_app(WebConfig("postgresql://unused/x", REDIS_URL, SECRET))
    described = description()["paths"]
    for route in app.routes:
        if isinstance(route, Mount):
            assert any(p.startswith(route.path + "/") for p in described), route.path
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        assert path in described, f"{path} is served but not in service/openapi.py"
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        assert methods == set(described[path]), (path, methods)
    served = {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in app.routes
              if isinstance(r, Route)}
    for path in described:
        assert path in served or path.startswith("/static/"), f"{path} is described only"


@pytest.fixture
def web(fresh_db: str, redis_prefix: str) -> Iterator[tuple[str, str]]:
    config = WebConfig(fresh_db, REDIS_URL, SECRET, redis_prefix,
                       dashboard=DashboardConfig(token=TOKEN), api_token=API_TOKEN,
                       bind_host="127.0.0.1")  # serve() listens on loopback only
    with serve(create_app(config)) as url:
        with psycopg.connect(fresh_db, autocommit=True) as conn:  # something to list and show
            conn.execute(
                """INSERT INTO ledger.deployments (repo, environment, kind, commit_sha, ref,
                       status, trigger, requested_by, pr_number, created_at, started_at,
                       finished_at)
                   VALUES ('octo/backend', 'staging', 'deploy', %s, 'main', 'succeeded',
                           'comment', 'alice', 7, now() - interval '1 hour',
                           now() - interval '1 hour', now() - interval '59 minutes')""",
                ("a" * 40,))
        yield url, fresh_db


class Client(requests.Session):
    """Signs webhook bodies sent without a signature; as the operator, also makes the
    dashboard's forms same-site with the session's CSRF token (they are refused otherwise,
    before doing anything worth testing)."""

    def __init__(self, url: str, csrf: str = "") -> None:
        super().__init__()
        self.url, self.csrf = url, csrf

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if path == "/webhooks" and "X-Hub-Signature-256" not in request.headers:
            request.headers["X-Hub-Signature-256"] = sign(SECRET, body)
        if self.csrf and path.startswith("/actions/"):
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            request.prepare_body(urlencode({**fields, "csrf": self.csrf}), None)
            request.headers["Content-Type"] = "application/x-www-form-urlencoded"
            request.headers["Origin"] = self.url
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def sign_in(url: str) -> Client:
    client = Client(url)
    r = client.post(f"{url}/login/token", data={"token": TOKEN, "next": "/"},
                    headers={"Origin": url})
    assert r.status_code == 303 and "deploybot_session" in client.cookies, r.text
    page = client.get(f"{url}/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and found, page.text[:500]
    client.csrf = found.group(1)
    return client


def check_operation(operation: Any, url: str, client: Client, statuses: dict[str, int]
                    ) -> None:
    """Examples of one operation, each answer validated against the description."""
    # A form's `payload` field holds JSON, which a schema cannot say: the intake answers
    # 400 to the random text schemathesis puts there, rightly.
    loose = operation.label in NEEDS_SERVER_STATE

    @PER_OPERATION
    @given(case=operation.as_strategy())
    def example(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, session=client)
        key = f"{operation.label} {response.status_code}"
        statuses[key] = statuses.get(key, 0) + 1
        form_webhook = operation.label == "POST /webhooks" and case.media_type == FORM
        excluded = [positive_data_acceptance] if loose or form_webhook else []
        if client.csrf:
            # Signed in, the session cookie rides in the client's jar, where schemathesis
            # can neither see it as ours nor take it away to probe: its auth check runs in
            # the anonymous pass (and tests/security tests wrong and missing credentials).
            excluded.append(ignored_auth)
        case.validate_response(response, excluded_checks=excluded,
                               transport_kwargs={"base_url": url, "session": client})
        assert response.status_code < 500, (response.status_code, response.text[:500])

    example()


def run_all(schema: Any, url: str, client: Client, skip: set[str]) -> dict[str, int]:
    """Every operation with its own examples; all failures are gathered, then reported."""
    failures: dict[str, str] = {}
    statuses: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in skip:
            continue
        try:
            check_operation(operation, url, client, statuses)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a
            # BaseExceptionGroup; collected, so one report names every route that fails
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:3000]}"
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    return statuses


def test_the_running_app_answers_as_described(web: tuple[str, str]) -> None:
    url, db = web
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    anonymous = run_all(schema, url, Client(url), skip=set())
    # A stranger is sent to sign in, and never reaches a page, a button or the log.
    for label, count in anonymous.items():
        if label.startswith(("GET /deployments/{deployment_id} ", "POST /actions/")):
            assert label.endswith((" 303",)), (label, count)
        if label.startswith("GET /api/deployments "):
            assert label.endswith(" 401"), (label, count)
    operator = sign_in(url)
    signed_in = run_all(schema, url, operator, skip={"POST /logout", "POST /login/token"})
    assert operator.get(f"{url}/").status_code == 200  # still signed in after all that
    assert any(k.startswith("GET /deployments/{deployment_id} 200") for k in signed_in) or any(
        k.startswith("GET /deployments/{deployment_id} 404") for k in signed_in)
    assert any(k.startswith("POST /actions/") and not k.endswith(" 303") for k in signed_in)
    # Webhooks: signed deliveries got past the signature.
    assert any(k.startswith("POST /webhooks ") and not k.endswith(" 401") for k in anonymous)
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM ledger.deployments").fetchone()
    assert row is not None and row[0] == 1  # the buttons queued requests at most


def test_what_fuzzing_found_stays_fixed(web: tuple[str, str]) -> None:
    """Each of these answered 500 before (a NUL PostgreSQL cannot store, `'²'.isdigit()`,
    RFC 3339's lower-case `t`)."""
    url, _ = web
    api = f"{url}/api/deployments"
    with requests.Session() as plain:
        plain.headers["Authorization"] = f"Bearer {API_TOKEN}"
        assert plain.get(api, params={"repo": "octo/backend\x00"}).json() == {
            "deployments": [], "count": 0}
        assert plain.get(api, params={"environment": "\x00"}).status_code == 200
        for limit in ("²", "٣", "9" * 5000, "-1", "0", "501", " 5"):
            r = plain.get(api, params={"limit": limit})
            assert r.status_code == 400 and "`limit`" in r.json()["error"], (limit, r.text)
        r = plain.get(api, params={"since": "2020-01-01t00:00:00z"})
        assert r.status_code == 200 and r.json()["count"] == 1
    operator = sign_in(url)
    r = operator.post(f"{url}/actions/unlock", headers={"Origin": url},
                      data={"csrf": operator.csrf, "repo": "octo/backend\x00",
                            "environment": "staging"})
    assert r.status_code < 500, r.text
