"""Decode a webhook body: JSON, or form-encoded with the JSON in `payload` (both are
GitHub content types)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


class PayloadError(ValueError):
    pass


def decode(body: bytes, content_type: str) -> dict[str, Any]:
    ctype = content_type.split(";", 1)[0].strip().lower()
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
        data = json.loads(text)
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(data, dict):
        raise PayloadError("payload must be a JSON object")
    return data
