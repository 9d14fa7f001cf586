"""Comparing what a check got with what it expects: subset matches, decimals, JSON types."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from workers.runbook.smoke_spec.model import MISSING


def normalize(value: Any) -> Any:
    """Values from JSON or SQL in comparable form: numbers as Decimal, UUIDs and times as
    their usual text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        try:
            return value if isinstance(value, Decimal) else Decimal(repr(value))
        except InvalidOperation:
            return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)


def to_json_text(value: Any) -> str:
    """JSON text in which decimals keep their digits (5.00 stays 5.00)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {to_json_text(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_json_text(v) for v in value) + "]"
    return json.dumps(value, default=str, ensure_ascii=False)


def _shown(value: Any, limit: int = 120) -> str:
    text = to_json_text(normalize(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mismatches(expected: Any, actual: Any, where: str) -> list[str]:
    """What differs between an expectation (subset semantics) and actual data."""
    expected, actual = normalize(expected), normalize(actual)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {_shown(actual)}"]
        out: list[str] = []
        for key, want in expected.items():
            if key not in actual:
                out.append(f"{where}.{key}: missing (have: {', '.join(map(str, actual)) or '-'})")
            else:
                out += mismatches(want, actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {_shown(actual)}"]
        if len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} item(s), got {len(actual)}: "
                    f"{_shown(actual)}"]
        out = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            out += mismatches(want, got, f"{where}[{index}]")
        return out
    if isinstance(expected, Decimal):
        if isinstance(actual, Decimal) and actual == expected:
            return []
        return [f"{where}: expected {expected}, got {_shown(actual)}"]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: expected {_shown(expected)}, got {_shown(actual)}"]
    return []


def lookup(data: Any, path: str) -> Any:
    """`data` at a dotted path (`a.b.0.c`); MISSING when absent."""
    current = data
    for part in path.split(".") if path else []:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def type_problem(value: Any, type_name: str) -> str | None:
    """Why `value` is not of the json_types type, or None."""
    if value is MISSING:
        return "missing"
    ok: bool
    if type_name == "any":
        ok = True
    elif type_name == "null":
        ok = value is None
    elif type_name == "boolean":
        ok = isinstance(value, bool)
    elif type_name == "integer":
        ok = isinstance(value, int | Decimal) and not isinstance(value, bool) and (
            Decimal(value) == Decimal(value).to_integral_value())
    elif type_name == "number":
        ok = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    elif type_name == "object":
        ok = isinstance(value, Mapping)
    elif type_name == "array":
        ok = isinstance(value, list)
    elif type_name == "string":
        ok = isinstance(value, str)
    elif type_name == "uuid":
        ok = isinstance(value, str) and _is_uuid(value)
    elif type_name == "datetime":
        ok = isinstance(value, str) and "T" in value.upper() and _is_datetime(value)
    elif type_name == "date":
        ok = isinstance(value, str) and _is_date(value)
    else:
        return f"unknown type {type_name}"
    return None if ok else f"expected {type_name}, got {_shown(normalize(value))}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
