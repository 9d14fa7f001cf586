"""Check a request against the description of Supabase's OpenAPI document that deploybot
keeps (workers/drivers/supabase_management_api.yml): the operation exists, its path and
query parameters match their schemas (no others), the bearer token is sent, and the body
has the documented media type and schema (multipart parts included)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from workers.drivers import supabase_openapi as oas


@dataclass
class Checked:
    operation: oas.Operation | None
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    files: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def check(request: Request) -> Checked:
    found = oas.find(request.method, request.url.path)
    if found is None:
        return Checked(None, problems=[f"{request.method} {request.url.path} is not an "
                                       "operation of the document"])
    op, path_params = found
    out = Checked(op, path_params)
    for param in op.parameters("path"):
        out.problems += oas.validate(param["schema"], path_params.get(param["name"], ""),
                                     f"path {param['name']}")
    known = {p["name"]: p for p in op.parameters("query")}
    for name, raw in request.query_params.multi_items():
        if name not in known:
            out.problems.append(f"query {name}: not a parameter of {op.operation_id}")
            continue
        value = oas.parameter_value(known[name], raw)
        out.problems += oas.validate(known[name]["schema"], value, f"query {name}")
        out.query[name] = value
    out.problems += [f"query {n}: required" for n, p in known.items()
                     if p.get("required") and n not in out.query]
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        out.problems.append("Authorization: the document requires a bearer token")
    if not op.request_content_types:
        if await request.body():
            out.problems.append(f"{op.operation_id} takes no request body")
        return out
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    schema = op.request_schema(ctype)
    if schema is None:
        out.problems.append(f"content-type {ctype or '(none)'}: expected one of "
                            f"{', '.join(op.request_content_types)}")
        return out
    if ctype == "application/json":
        try:
            out.body = json.loads(await request.body())
        except ValueError:
            out.problems.append("body: not JSON")
            return out
        out.problems += oas.validate(schema, out.body, "body", strict=True)
    elif ctype == "multipart/form-data":
        out.body, out.files = await _multipart(request, schema, out.problems)
    return out


async def _multipart(request: Request, schema: dict[str, Any], problems: list[str]
                     ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The form as the schema's object: object properties are JSON text fields, binary
    array items are file parts named by their path."""
    props: dict[str, Any] = schema.get("properties", {})
    form = await request.form(max_files=10_000, max_fields=100)
    body: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for name, value in form.multi_items():
        prop = props.get(name)
        if prop is None:
            problems.append(f"part {name!r}: not in the document (allowed: {', '.join(props)})")
            continue
        if prop.get("type") == "array" and prop.get("items", {}).get("format") == "binary":
            if not isinstance(value, UploadFile) or not value.filename:
                problems.append(f"part {name!r}: must be a file with a file name")
                continue
            files[value.filename] = await value.read()
            body.setdefault(name, []).append(value.filename)
        elif isinstance(value, UploadFile):
            problems.append(f"part {name!r}: must be a form field, not a file")
        else:
            try:
                body[name] = json.loads(value) if prop.get("type") == "object" else value
            except ValueError:
                problems.append(f"part {name!r}: not JSON")
    problems += oas.validate(schema, body, "form", strict=True)
    return body, files
