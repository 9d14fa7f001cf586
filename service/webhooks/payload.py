"""Decode a webhook body: JSON, or form-encoded with the JSON in `payload` (both are
GitHub content types)."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qs

import orjson

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB

# PostgreSQL's jsonb holds neither U+0000 nor unpaired surrogates; JSON can spell both as
# escapes. Only a body that contains such an escape is walked (and repaired).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE_ESCAPE_BYTES = re.compile(_UNSTORABLE_ESCAPE.pattern.encode())
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


class PayloadError(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: PostgreSQL's JSON has no infinity
        raise PayloadError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not JSON")


def _storable(data: dict[str, Any]) -> dict[str, Any]:
    """Replace what jsonb cannot store with U+FFFD (GitHub never sends it; a signed body
    that does is still recorded rather than answered 500). Iterative: the depth is
    whatever json accepted."""
    def fix(s: str) -> str:
        return _UNSTORABLE_CHAR.sub("\ufffd", s)

    root: list[Any] = [data]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        value = parent[key]
        if isinstance(value, str):
            parent[key] = fix(value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            fixed = {fix(k): v for k, v in value.items()}
            parent[key] = fixed
            stack.extend((fixed, k) for k in fixed)
    return dict(root[0])


def decode(body: bytes, content_type: str) -> dict[str, Any]:
    return decode_with_text(body, content_type)[0]


def _needs_repair(text: str) -> bool:
    return ("\\u" in text and _UNSTORABLE_ESCAPE.search(text) is not None) or "\x00" in text


def decode_with_text(body: bytes, content_type: str) -> tuple[dict[str, Any], str | None]:
    """The payload, and its JSON text when PostgreSQL can store that text as it is (so the
    intake never encodes the payload again); None when it had to be repaired."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in ("application/json", ""):
        # orjson parses a webhook in half the time of json. Whatever it refuses (or parses
        # differently: 1e999, lone surrogates, huge numbers, depth) goes the stdlib way
        # below, which says what is wrong or repairs it.
        try:
            fast = orjson.loads(body)
        except orjson.JSONDecodeError:
            fast = None
        # Checked on the bytes, a backslash first (a memchr): `b"\\u" in body` alone took
        # longer than parsing half the payload.
        if isinstance(fast, dict) and not (
                (b"\\" in body and _UNSTORABLE_ESCAPE_BYTES.search(body)) or b"\x00" in body):
            return fast, body.decode("utf-8")  # orjson checked it is UTF-8
    try:
        if ctype == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
            if "payload" not in fields:
                raise PayloadError("form-encoded body without a `payload` field")
            text = fields["payload"][0]
        elif ctype in ("application/json", ""):
            text = body.decode("utf-8")
        else:
            raise PayloadError(f"unsupported content type {ctype!r}; "
                               "use application/json or application/x-www-form-urlencoded")
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON ({exc.msg} at {exc.pos})") from None
    except RecursionError:
        raise PayloadError("body is not a webhook payload: nested too deeply") from None
    except PayloadError:
        raise
    except ValueError:  # an integer of thousands of digits (int_max_str_digits)
        raise PayloadError("body is not a webhook payload: a number is too long") from None
    if not isinstance(data, dict):
        raise PayloadError("payload must be a JSON object")
    if _needs_repair(text):
        return _storable(data), None
    return data, text
