"""The Supabase Management API operations deploybot uses (supabase_management_api.yml), and
a validator for the small part of OpenAPI 3.0 schemas that description uses.

The client checks what it parses against it; the test stand-in checks every request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).with_name("supabase_management_api.yml")


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return data


def _deref(node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        target: Any = spec()
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        return target
    return node


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    data: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.data.get("operationId", ""))

    def parameters(self, where: str) -> list[dict[str, Any]]:
        return [p for p in (_deref(p) for p in self.data.get("parameters", []))
                if p.get("in") == where]

    def request_schema(self, content_type: str) -> dict[str, Any] | None:
        content = (self.data.get("requestBody") or {}).get("content", {})
        media = content.get(content_type)
        return _deref(media["schema"]) if media else None

    @property
    def request_content_types(self) -> tuple[str, ...]:
        return tuple((self.data.get("requestBody") or {}).get("content", {}))

    def response_schema(self, status: int) -> dict[str, Any] | None:
        answer = self.data.get("responses", {}).get(str(status)) or {}
        media = answer.get("content", {}).get("application/json")
        return _deref(media["schema"]) if media else None

    def documents(self, status: int) -> bool:
        return str(status) in self.data.get("responses", {})


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
                      + "$")


def find(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The operation `method path` is, with its path parameters; None when undescribed."""
    for template, item in spec()["paths"].items():
        match = _template_regex(template).match(path)
        if match and method.lower() in item:
            return Operation(method.lower(), template, item[method.lower()]), match.groupdict()
    return None


def operation(method: str, template: str) -> Operation:
    return Operation(method.lower(), template, spec()["paths"][template][method.lower()])


def validate(schema: dict[str, Any], value: Any, where: str = "body", *,
             strict: bool = False) -> list[str]:
    """Problems of `value` against `schema` (empty: valid). `strict` also rejects keys the
    schema does not name where it says `x-strict` (request bodies)."""
    schema = _deref(schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    if kind in checks and not checks[kind](value):
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    problems: list[str] = []
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        problems += [f"{where}.{name}: required" for name in schema.get("required", [])
                     if name not in value]
        if strict and schema.get("x-strict"):
            problems += [f"{where}.{name}: not in the document (allowed: {', '.join(props)})"
                         for name in value if name not in props]
        for name, sub in props.items():
            if name in value:
                problems += validate(sub, value[name], f"{where}.{name}", strict=strict)
    elif kind == "array":
        for i, item in enumerate(value):
            problems += validate(schema.get("items", {}), item, f"{where}[{i}]", strict=strict)
    elif kind == "string":
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    return problems


def parameter_value(param: dict[str, Any], raw: str) -> Any:
    """A query/path parameter's text as its schema's type (booleans are `true`/`false`)."""
    if param.get("schema", {}).get("type") == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw
