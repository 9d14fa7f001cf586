"""The parts of a payload a handler reads, checked before it reads them.

A delivery signed with our secret can still carry junk (a proxy, a hand-made redelivery, a
change on GitHub's side). Junk ends as a handled delivery that says what was wrong — never
as a KeyError the reconciler retries, and never as a deployment of a made-up commit."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

MAX_ID = 2**63 - 1  # comment, check run and installation ids are bigint columns
MAX_NUMBER = 2**31 - 1  # pull request numbers are integer columns
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


EXACT_FLOAT = 2**53  # above it a float no longer holds every whole number


def _whole(v: Any, top: int) -> bool:
    """A positive whole number up to `top`. JSON has one kind of number, and PostgreSQL's
    jsonb, which the worker reads payloads from, rewrites some (`5.8e16` comes back as
    `58000000000000000`, `7.0` stays `7.0`): so `7.0` is 7 too, where a float is exact."""
    if isinstance(v, float) and v.is_integer() and abs(v) <= EXACT_FLOAT:
        v = int(v)
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= top


def _time(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        parsed = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None  # compared with aware times later


KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (lambda v: isinstance(v, dict), "an object"),
    "string": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "id": (lambda v: _whole(v, MAX_ID), "a positive id"),
    "number": (lambda v: _whole(v, MAX_NUMBER), "a pull request number"),
    "time": (_time, "an ISO 8601 time"),
    "sha": (lambda v: isinstance(v, str) and bool(_SHA.match(v)), "a commit SHA"),
    "repo": (lambda v: isinstance(v, str) and bool(_REPO.match(v)), "owner/name"),
}
REPOSITORY = {"repository": "object?", "repository.full_name": "repo?",
              "repository.default_branch": "string?"}


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(v), type(v).__name__)
    return f"{kind} {v!r:.40}" if isinstance(v, bool | int | float | str) else kind


def malformed(payload: Mapping[str, Any], spec: Mapping[str, str]) -> str | None:
    """The first problem of `payload` against `spec` (dotted path → kind, `?` = may be
    missing or null), as the delivery's result; None when it has the shape.

    A path under a parent that is missing is skipped: the parent's own entry decides."""
    for path, kind in spec.items():
        node: Any = payload
        *parents, last = path.split(".")
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
            if node is None:
                break
        if not isinstance(node, dict):
            continue
        value = node.get(last)
        if value is None:
            if kind.endswith("?"):
                continue
            return f"ignored: malformed payload: `{path}` is missing"
        test, what = KINDS[kind.rstrip("?")]
        if not test(value):
            return f"ignored: malformed payload: `{path}` should be {what}, got {_describe(value)}"
    return None
