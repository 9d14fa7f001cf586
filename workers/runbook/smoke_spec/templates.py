"""`{name}` templates in the smoke file's strings, filled with captured or generated values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from workers.runbook.smoke_spec.model import TEMPLATE


def template_names(value: Any) -> list[str]:
    """Names used as `{name}` in the strings of `value`."""
    found: list[str] = []
    if isinstance(value, str):
        found += [m.group(1) for m in TEMPLATE.finditer(value) if m.group(1)]
    elif isinstance(value, Mapping):
        for item in value.values():
            found += template_names(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found += template_names(item)
    return found


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` with `{name}` in its strings replaced by the variables' text."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            return _text(variables[m.group(1)])
        return TEMPLATE.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, variables) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
