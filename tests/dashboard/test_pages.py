"""What the pages show: each environment's release, lock and queue; a deployment's steps,
timing and log (secrets redacted); the history and its plot; clear answers to bad links."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from tests.dashboard.conftest import Dash
from tests.dashboard.support import (
    add_deployment,
    add_lock,
    add_request,
    browser,
    sign_in_with_token,
)


def test_the_overview_shows_release_lock_and_queue(dash: Dash) -> None:
    old = add_deployment(dash.db, sha="1" * 40, pr=5, who="alice",
                         started=datetime.now(UTC) - timedelta(days=1))
    active = add_deployment(dash.db, sha="2" * 40, pr=11, who="mona")
    add_deployment(dash.db, environment="production", sha="1" * 40, pr=5)
    add_request(dash.db, commit_sha="3" * 40, pr_number=12, requested_by="bob")
    add_lock(dash.db, owner="bob", pr=9, reason="QA on #9")
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = html.unescape(b.get("/").text)
    staging = page[page.index('data-env="staging"'):page.index('data-env="production"')]
    assert "2222222" in staging and "#11" in staging and "@mona" in staging
    assert f"deployment #{active}" in staging and f"deployment #{old}" not in staging
    assert "locked</span> by" in staging and "@bob" in staging and "QA on #9" in staging
    assert "3333333" in staging and "#12" in staging  # the queued request
    assert f"Roll back #{active}" in staging and "Unlock" in staging
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", staging)  # times in UTC …
    assert "ago" in staging  # … with a relative hint


def test_a_deployment_page_shows_steps_timing_and_the_redacted_log(dash: Dash) -> None:
    dep = add_deployment(dash.db, status="rolled_back", failed_step="smoke",
                         reason="calculate-quote answered 500",
                         output={"migrate": "applying 20260107000001_create_quotes_table.sql\n"
                                            "connecting to postgresql://app:hunter2-secret@db/x\n",
                                 "smoke": "POST /functions/v1/calculate-quote → 500\n"})
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = html.unescape(b.get(f"/deployments/{dep}").text)
    assert "failed, rolled back" in page and "calculate-quote answered 500" in page
    assert page.count('class="step ') == 7
    assert "applying 20260107000001_create_quotes_table.sql" in page
    assert "hunter2-secret" not in page and "postgresql://app:[redacted]@db/x" in page
    assert "2.0 s" in page  # each step's duration
    assert "data-stream" not in page  # finished: nothing to follow


def test_a_running_deployment_page_follows_the_stream(dash: Dash) -> None:
    dep = add_deployment(dash.db, status="running")
    add_request(dash.db, status="running", deployment_id=dep)  # came through the App
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = b.get(f"/deployments/{dep}").text
    assert f'data-stream="/deployments/{dep}/events"' in page
    assert 'id="rollback-form"' in page and "hidden" in page  # offered once it succeeds


def test_a_deployment_page_names_the_report_github_has_not_taken(dash: Dash) -> None:
    pending, given_up, delivered = (add_deployment(dash.db) for _ in range(3))
    add_request(dash.db, status="done", deployment_id=pending, report_attempts=1,
                report_parts=["check_run", "summary_comment"],
                report_due=datetime.now(UTC) + timedelta(minutes=10))
    add_request(dash.db, status="done", deployment_id=given_up, report_attempts=17,
                report_parts=["deployment_status"], report_due=None)
    add_request(dash.db, status="done", deployment_id=delivered)
    with browser(dash.url) as b:
        sign_in_with_token(b)
        pages = {dep: html.unescape(b.get(f"/deployments/{dep}").text)
                 for dep in (pending, given_up, delivered)}
    assert ("GitHub has not taken this deployment's check run conclusion, summary comment "
            "yet: deploybot sends it again") in pages[pending]
    assert "in 10 min" in pages[pending]
    assert ("GitHub never took this deployment's GitHub deployment status: deploybot gave up "
            "after a day and 17 tries") in pages[given_up]
    assert 'id="report-note"' not in pages[delivered]


def test_history_has_a_plot_of_duration_and_failure_rate(dash: Dash) -> None:
    now = datetime.now(UTC)
    ids = [add_deployment(dash.db, started=now - timedelta(hours=h), seconds=30 + h,
                          status="succeeded" if h % 3 else "rolled_back",
                          failed_step=None if h % 3 else "smoke")
           for h in range(1, 8)]
    with browser(dash.url) as b:
        sign_in_with_token(b)
        page = html.unescape(b.get("/history?repo=octo/backend&env=staging").text)
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "Duration" in svg and "Failure rate per hour" in svg
    assert svg.count('class="pt pt-') >= len(ids)
    for dep_id in ids:
        assert f'href="/deployments/{dep_id}"' in svg
    assert "pt-undone" in svg and "pt-ok" in svg
    assert "29%" in page  # 2 of the 7 failed


def test_bad_links_get_a_clear_page_not_an_error(dash: Dash) -> None:
    with browser(dash.url) as b:
        sign_in_with_token(b)
        missing = b.get("/deployments/424242")
        assert missing.status_code == 404 and "No such deployment" in missing.text
        unknown = b.get("/history?repo=nobody/nothing")
        assert unknown.status_code == 404 and "No such repository" in unknown.text
        assert b.get("/requests/99").status_code == 404
        assert b.get("/deployments/not-a-number").status_code == 404
        empty = b.get("/")
        assert empty.status_code == 200 and "Nothing deployed yet" in empty.text
