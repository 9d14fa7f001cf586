"""Rollback and Unlock from the dashboard: the comment commands' permissions, requests made
the way accepted requests are (recorded in the ledger, enqueued for the workers), and
refusals of cross-site forms."""

from __future__ import annotations

import asyncio
import html

import redis.asyncio as aioredis

from service import queue
from service.config.model import Config, EnvironmentConfig
from service.dashboard import repo_config
from tests.conftest import REDIS_URL
from tests.dashboard.conftest import Dash
from tests.dashboard.support import (
    add_deployment,
    add_lock,
    add_request,
    browser,
    connect,
    sign_in_with_github,
    sign_in_with_token,
)


def requests_of(db: str) -> list[dict[str, object]]:
    with connect(db) as conn:
        return list(conn.execute("SELECT * FROM ledger.requests ORDER BY id").fetchall())


def job_exists(prefix: str, request_id: int) -> bool:
    async def look() -> bool:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            return bool(await client.exists(
                f"arq:job:{queue.request_job_id(prefix, request_id)}"))
        finally:
            await client.aclose()

    return asyncio.run(look())


def test_rollback_records_a_request_and_enqueues_it(dash: Dash) -> None:
    add_request(dash.db, status="done")  # the repository came through the App (installation 1)
    dep = add_deployment(dash.db, sha="9" * 40, pr=7)
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "alice")  # write: enough for staging
        r = b.post("/actions/rollback", {"deployment": dep, "csrf": b.csrf()})
        assert r.status_code == 303
        rows = requests_of(dash.db)
        new = rows[-1]
        assert r.headers["location"] == f"/requests/{new['id']}"
        assert (new["kind"], new["trigger"], new["requested_by"], new["rollback_target"],
                new["commit_sha"], new["installation_id"], new["status"]) == (
            "rollback", "dashboard", "alice", dep, "9" * 40, 1, "queued")
        assert job_exists(dash.prefix, int(str(new["id"])))
        waiting = b.get(r.headers["location"])
        assert waiting.status_code == 200 and "Waiting for a worker" in waiting.text
        again = b.post("/actions/rollback", {"deployment": dep, "csrf": b.csrf()})
        assert again.headers["location"] == f"/requests/{new['id']}"  # not twice
    assert len(requests_of(dash.db)) == 2


def test_rollback_needs_the_permission_of_the_command(dash: Dash) -> None:
    add_request(dash.db, status="done")
    dep = add_deployment(dash.db, environment="production")
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "alice")  # write; production needs maintain
        r = b.post("/actions/rollback", {"deployment": dep, "csrf": b.csrf()})
        assert r.status_code == 403
        assert "needs maintain permission" in html.unescape(r.text)
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "mona")  # maintain
        ok = b.post("/actions/rollback", {"deployment": dep, "csrf": b.csrf()})
        assert ok.status_code == 303


def test_a_repository_config_read_by_a_worker_sets_the_requirement(dash: Dash) -> None:
    add_request(dash.db, status="done")
    dep = add_deployment(dash.db, environment="qa")
    strict = Config(environments={"qa": EnvironmentConfig(
        name="qa", database_url_env="QA_DATABASE_URL", required_permission="admin")})

    async def remember() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        await repo_config.remember(client, dash.prefix, "octo/backend", strict)
        await client.aclose()

    asyncio.run(remember())
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "mona")  # maintain < admin
        assert "Roll back" not in b.get("/").text
        r = b.post("/actions/rollback", {"deployment": dep, "csrf": b.csrf()})
        assert r.status_code == 403 and "needs admin permission" in html.unescape(r.text)


def test_cross_site_and_tokenless_forms_are_refused(dash: Dash) -> None:
    add_request(dash.db, status="done")
    dep = add_deployment(dash.db)
    with browser(dash.url) as b:
        sign_in_with_token(b)
        csrf = b.csrf()
        evil = b.post("/actions/rollback", {"deployment": dep, "csrf": csrf},
                      origin="https://evil.example")
        assert evil.status_code == 403 and "cross-site" in evil.text
        no_origin = b.client.post("/actions/rollback", data={"deployment": dep, "csrf": csrf})
        assert no_origin.status_code == 403
        forged = b.post("/actions/rollback", {"deployment": dep, "csrf": "forged"})
        assert forged.status_code == 403 and "security token" in forged.text
    assert len(requests_of(dash.db)) == 1  # nothing was requested


def test_what_cannot_be_rolled_back_is_explained(dash: Dash) -> None:
    cli_only = add_deployment(dash.db, repo="local/backend", pr=None)
    failed = add_deployment(dash.db, status="failed", failed_step="preflight")
    older = add_deployment(dash.db, sha="1" * 40)
    add_deployment(dash.db, sha="2" * 40)
    add_request(dash.db, status="done")
    with browser(dash.url) as b:
        sign_in_with_token(b)
        csrf = b.csrf()
        cases = [(cli_only, 409, "deploybot rollback staging"),
                 (failed, 409, "only a deployment that succeeded"),
                 (older, 409, "roll that back first"),
                 ("x", 400, "named no deployment"), (999, 404, "No such deployment")]
        for target, status, text in cases:
            r = b.post("/actions/rollback", {"deployment": target, "csrf": csrf})
            assert r.status_code == status, (target, r.text)
            assert text in html.unescape(r.text), target
        overview = b.get("/").text
        assert "deployed from the command line" in overview


def test_unlock_frees_the_environment_for_the_owner_or_a_maintainer(dash: Dash) -> None:
    add_deployment(dash.db)
    add_lock(dash.db, owner="bob", pr=9)
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "alice")  # write, but not bob
        assert ">Unlock<" not in b.get("/").text
        r = b.post("/actions/unlock", {"repo": "octo/backend", "environment": "staging",
                                       "csrf": b.csrf()})
        assert r.status_code == 403 and "only they or a maintainer" in r.text
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "mona")
        assert ">Unlock<" in b.get("/").text
        r = b.post("/actions/unlock", {"repo": "octo/backend", "environment": "staging",
                                       "csrf": b.csrf()})
        assert r.status_code == 303
        assert "staging of octo/backend is unlocked" in b.get("/").text
        assert "is unlocked" not in b.get("/").text  # said once
    with connect(dash.db) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ledger.locks").fetchone() == {"n": 0}


def test_reading_is_not_acting(dash: Dash) -> None:
    add_deployment(dash.db)
    add_lock(dash.db)
    with browser(dash.url) as b:
        sign_in_with_github(b, dash.github, "rita")  # read
        for path, data in (("/actions/rollback", {"deployment": 1}),
                           ("/actions/unlock", {"repo": "octo/backend",
                                                "environment": "staging"})):
            r = b.post(path, {**data, "csrf": b.csrf()})
            assert r.status_code == 403 and "GitHub says you have read" in r.text
