"""Decode a webhook body: JSON, or form-encoded with the JSON in `payload` (both are
GitHub content types), into what the intake reads of it and the JSON text to store.

The intake reads five fields of a 15 KB payload; the worker reads the rest from the ledger.
Building Python objects for the whole payload (orjson) cost a fifth of the web process's CPU
and, through the garbage collector, more again: a JSON body is read with msgspec into the five
fields only, the rest checked as JSON and skipped. Whatever that path cannot vouch for goes
the full way below, which says what is wrong or repairs it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import msgspec

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB

# Neither U+0000 nor an unpaired surrogate survives what the worker does with a payload
# (PostgreSQL's text and jsonb refuse the one, UTF-8 the other); JSON can spell both as
# escapes. Only a body that contains such an escape is walked (and repaired).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE_ESCAPE_BYTES = re.compile(_UNSTORABLE_ESCAPE.pattern.encode())
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


class PayloadError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Payload:
    """What the intake reads of a webhook payload, and the JSON it stores for the worker."""

    text: str  # the JSON as received, or repaired where PostgreSQL could not store it
    action: str | None
    installation_id: int | None  # a bigint, or None
    repo: str | None  # repository.full_name
    comment_body: str | None
    zen: object  # a ping's; answered back


# The fields above as msgspec reads them: a field of another JSON type than these fails the
# fast path (the full path then reads it as the rest of the code always has).
class _Installation(msgspec.Struct):
    id: object = None


class _Repository(msgspec.Struct):
    full_name: object = None


class _Comment(msgspec.Struct):
    body: object = None


class _Fields(msgspec.Struct):
    action: object = None
    installation: _Installation | None = None
    repository: _Repository | None = None
    comment: _Comment | None = None
    zen: object = ""


_FIELDS = msgspec.json.Decoder(_Fields)


def _int_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value  # the column is a bigint
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _payload(text: str, *, action: object, installation_id: object, full_name: object,
             comment_body: object, zen: object) -> Payload:
    """The fields as the intake takes them, whichever path read them: a value of another
    JSON type than the field's is None."""
    return Payload(text=text, action=_str(action), installation_id=_int_id(installation_id),
                   repo=_str(full_name), comment_body=_str(comment_body), zen=zen)


def _finite(text: str) -> float:
    value = float(text)
    # 1e999 reads as infinity, which a repaired payload written back as JSON cannot spell
    if not math.isfinite(value):
        raise PayloadError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not JSON")


def _storable(data: dict[str, Any]) -> dict[str, Any]:
    """Replace what PostgreSQL cannot hold with U+FFFD (GitHub never sends it; a signed body
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


def decode(body: bytes, content_type: str) -> Payload:
    """The payload's fields and its storable JSON text; PayloadError says what is wrong."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            raise PayloadError("body is not UTF-8") from None
        if "payload" not in fields:
            raise PayloadError("form-encoded body without a `payload` field")
        body = fields["payload"][0].encode()
    elif ctype not in ("application/json", ""):
        raise PayloadError(f"unsupported content type {ctype!r}; "
                           "use application/json or application/x-www-form-urlencoded")
    return _decode_fast(body) or _decode_full(body)


def _decode_fast(body: bytes) -> Payload | None:
    """The five fields, when msgspec reads the body as a JSON object whose text can be
    stored as it is; None otherwise."""
    try:
        fields = _FIELDS.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    # The numbers it skipped are not checked for size: the text is stored as it is and the
    # worker reads numbers of any size (service/ledger/deliveries.read_json).
    if _unstorable(body):
        return None
    try:
        text = body.decode("utf-8")  # skipped strings are not checked for UTF-8
    except UnicodeDecodeError:
        return None
    return _payload(
        text, action=fields.action,
        installation_id=fields.installation.id if fields.installation else None,
        full_name=fields.repository.full_name if fields.repository else None,
        comment_body=fields.comment.body if fields.comment else None, zen=fields.zen)


def _decode_full(body: bytes) -> Payload:
    """Every other body: read whole by the stdlib, which says what is wrong with it or
    repairs what PostgreSQL could not hold."""
    try:
        text = body.decode("utf-8")
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
    if _unstorable(body):
        data = _storable(data)
        text = json.dumps(data)
    def inner(name: str, key: str) -> object:
        value = data.get(name)
        return value.get(key) if isinstance(value, dict) else None

    return _payload(text, action=data.get("action"),
                    installation_id=inner("installation", "id"),
                    full_name=inner("repository", "full_name"),
                    comment_body=inner("comment", "body"), zen=data.get("zen", ""))


def _unstorable(body: bytes) -> bool:
    """Whether the JSON spells U+0000 or a lone surrogate (see _UNSTORABLE_ESCAPE).
    Checked on the bytes, a backslash first (a memchr): `b"\\u" in body` alone took longer
    than parsing half the payload."""
    return (b"\\" in body and _UNSTORABLE_ESCAPE_BYTES.search(body) is not None) \
        or b"\x00" in body
