"""Reading a smoke file (`parse_smoke_spec`, `load_smoke_spec`), and the request an HTTP check
makes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from service.bounded_input import InputRefused, read_bounded
from workers.runbook.smoke_spec.errors import problems
from workers.runbook.smoke_spec.matching import to_json_text
from workers.runbook.smoke_spec.model import MISSING, HttpCall, Problem, SmokeSpec, SmokeSpecError
from workers.runbook.smoke_spec.references import reference_problems
from workers.runbook.smoke_spec.templates import render
from workers.runbook.smoke_spec.yaml_lines import LIMITS, DuplicateKey, load_yaml


def parse_smoke_spec(text: str, path: str = "tests/backend/smoke.yml") -> SmokeSpec:
    """Parse and validate; raises SmokeSpecError listing every problem (file, line, key,
    what is allowed)."""
    try:
        data = load_yaml(text)
    except DuplicateKey as exc:
        raise SmokeSpecError(path, [Problem(str(exc.key), "appears twice in the same mapping",
                                            exc.line)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SmokeSpecError(path, [Problem("(file)", f"is not valid YAML: {problem}",
                                            mark.line + 1 if mark else 0)]) from None
    except InputRefused as exc:
        raise SmokeSpecError(path, [Problem("(file)", f"is refused: {exc}")]) from None
    try:
        spec = SmokeSpec.model_validate(data)
    except ValidationError as exc:
        raise SmokeSpecError(path, problems(exc.errors(include_url=False), SmokeSpec,
                                            data)) from None
    found = reference_problems(spec, data)
    if found:
        raise SmokeSpecError(path, found)
    return spec


def load_smoke_spec(root: Path, relpath: str) -> SmokeSpec:
    """The smoke file at `root/relpath`; FileNotFoundError when absent."""
    try:
        text = read_bounded(root / relpath, LIMITS.max_bytes, relpath)
    except InputRefused as exc:
        raise SmokeSpecError(relpath, [Problem("(file)", f"is refused: {exc}")]) from None
    return parse_smoke_spec(text, relpath)


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    content: bytes | None


def http_request(call: HttpCall, variables: Mapping[str, Any], base_url: str,
                 anon_key: str) -> HttpRequest:
    """The request an HTTP check makes (the smoke step and the watch's probe send it)."""
    headers = {k: str(v) for k, v in render(dict(call.headers), variables).items()}
    content: bytes | None = None
    if call.json_body is not MISSING:
        content = to_json_text(render(call.json_body, variables)).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    elif call.body is not None:
        content = str(render(call.body, variables)).encode()
    if call.auth:
        headers["Authorization"] = f"Bearer {anon_key}"
    return HttpRequest(base_url.rstrip("/") + str(render(call.path, variables)), headers,
                       content)
