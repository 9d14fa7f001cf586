"""The live page's stream: whatever process writes a deployment's steps to the ledger, the
server-sent events carry the changes — step states, new log lines (redacted), the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.dashboard.conftest import Dash
from tests.dashboard.support import (
    add_deployment,
    browser,
    connect,
    sign_in_with_github,
    sign_in_with_token,
)


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    name, data = "message", ""
    for line in lines:
        if line == "":
            if data:
                yield name, json.loads(data)
            name, data = "message", ""
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]


def next_of(stream: Iterator[tuple[str, dict[str, Any]]], kind: str) -> dict[str, Any]:
    for name, data in stream:
        if name == kind:
            return data
    raise AssertionError(f"the stream ended before a {kind!r} event")


def test_steps_and_output_arrive_as_the_ledger_changes(dash: Dash) -> None:
    dep = add_deployment(dash.db, status="running",
                         output={"preflight": "unit tests: 48 passed\n"})
    with browser(dash.url) as b:
        sign_in_with_token(b)
        cookies = dict(b.client.cookies)
    with httpx.Client(base_url=dash.url, cookies=cookies, timeout=60) as client, \
            client.stream("GET", f"/deployments/{dep}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response.iter_lines())
        reset = next_of(stream, "reset")
        assert [s["name"] for s in reset["steps"]][:3] == ["preflight", "backup", "migrate"]
        assert reset["steps"][0]["output"] == "unit tests: 48 passed\n"
        with connect(dash.db) as conn:  # what a worker's ledger reporter does
            conn.execute("""UPDATE ledger.deployment_steps SET output = output || %s
                            WHERE deployment_id = %s AND name = 'migrate'""",
                         ("applying 20260301000000_add_note.sql with "
                          "postgresql://app:pa55-word-x@db/x\n", dep))
        out = next_of(stream, "output")
        assert out["name"] == "migrate"
        assert out["text"] == ("applying 20260301000000_add_note.sql with "
                               "postgresql://app:[redacted]@db/x\n")
        with connect(dash.db) as conn:
            conn.execute("""UPDATE ledger.deployment_steps SET status = 'succeeded',
                                   duration_ms = 1234, finished_at = now()
                            WHERE deployment_id = %s AND name = 'migrate'""", (dep,))
        step = next_of(stream, "step")
        assert step["name"] == "migrate" and step["status"] == "succeeded"
        assert "1.2 s" in step["head"]
        with connect(dash.db) as conn:
            conn.execute("UPDATE ledger.deployments SET status = 'succeeded', "
                         "finished_at = now() WHERE id = %s", (dep,))
        head = next_of(stream, "deployment")
        assert head["status"] == "succeeded" and "succeeded" in head["head"]
        assert next_of(stream, "end") == {"status": "succeeded"}


def test_a_finished_deployment_streams_once_and_ends(dash: Dash) -> None:
    dep = add_deployment(dash.db, status="failed", failed_step="preflight")
    with browser(dash.url) as b:
        sign_in_with_token(b)
        response = b.get(f"/deployments/{dep}/events")
    kinds = [name for name, _ in events(iter(response.text.splitlines()))]
    assert kinds == ["reset", "end"]


def test_the_stream_is_for_people_who_can_read_the_repository(dash: Dash) -> None:
    dep = add_deployment(dash.db, repo="octo/secret")
    with browser(dash.url) as b:
        assert b.get(f"/deployments/{dep}/events").status_code == 401
        sign_in_with_github(b, dash.github, "rita")
        assert b.get(f"/deployments/{dep}/events").status_code == 404
