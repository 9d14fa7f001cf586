"""The payload shape check the handlers run first: what counts as an id, as the worker
reads payloads back from PostgreSQL's jsonb."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tests.conftest import ADMIN_URL
from workers.handlers.pr_comment import SHAPE
from workers.handlers.shape import malformed

COMMENT = {"issue": {"number": 7, "pull_request": {}},
           "comment": {"id": 1, "body": "/deploy staging", "user": {"login": "alice"},
                       "created_at": "2026-01-07T09:00:00Z"}}


def through_jsonb(text: str) -> Any:
    """A value as the worker gets it: the intake stores the body as jsonb."""
    with psycopg.connect(ADMIN_URL) as conn:
        row = conn.execute("SELECT %s::jsonb", (text,)).fetchone()
    assert row is not None
    return row[0]


def with_ids(number: str, comment_id: str) -> dict[str, Any]:
    payload = json.loads(json.dumps(COMMENT))
    payload["issue"]["number"] = through_jsonb(number)
    payload["comment"]["id"] = through_jsonb(comment_id)
    return payload


@pytest.mark.parametrize(("number", "comment_id"), [
    ("7", "1"), ("7.0", "1"), ("7e0", "1"), ("7", "5.845253756492015e16"),
    ("7", "9223372036854775807")])
def test_a_whole_number_is_an_id_however_json_writes_it(number: str, comment_id: str) -> None:
    assert malformed(with_ids(number, comment_id), SHAPE) is None


@pytest.mark.parametrize(("number", "comment_id", "problem"), [
    ("7.5", "1", "`issue.number` should be a pull request number, got a number 7.5"),
    ("0", "1", "`issue.number` should be a pull request number, got a number 0"),
    ("7", "-1.0", "`comment.id` should be a positive id, got a number -1.0"),
    # kept as a float by jsonb, and past the floats that hold every whole number
    ("7", "58452537564920150.0", "`comment.id` should be a positive id"),
    ("7", "9223372036854775808", "`comment.id` should be a positive id"),
    ("2147483648", "1", "`issue.number` should be a pull request number"),
    ("true", "1", "`issue.number` should be a pull request number, got a boolean True")])
def test_anything_else_is_malformed_and_named(number: str, comment_id: str,
                                              problem: str) -> None:
    assert problem in (malformed(with_ids(number, comment_id), SHAPE) or "")
