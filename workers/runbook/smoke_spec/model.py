"""What a smoke file means once read: checks, their calls and expectations; and the errors
that name a file's problems by line."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
JSON_TYPES = ("uuid", "datetime", "date", "string", "number", "integer", "boolean", "null",
              "object", "array", "any")
GENERATORS = ("uuid",)
MAX_TIMEOUT_S = 120.0
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
ROLE = re.compile(r"[a-z_][a-z0-9_$]*")

Kind = Literal["http", "sql", "rls"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()



# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    key: str  # where in the file, e.g. checks[0].http.method
    message: str  # what is wrong and what is allowed
    line: int = 0  # 1-based; 0 when unknown


class SmokeSpecError(ValueError):
    """The smoke file is invalid; `problems` lists every problem found."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.describe(p) for p in self.problems))

    def describe(self, problem: Problem) -> str:
        where = f"{self.path}:{problem.line}" if problem.line else self.path
        return f"{where}: {problem.key}: {problem.message}"


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class HttpCall:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = MISSING
    body: str | None = None
    auth: bool = True
    timeout_s: float = 30.0


@dataclass(frozen=True)
class SqlQuery:
    query: str


@dataclass(frozen=True)
class RlsQuery:
    role: str
    claims: Mapping[str, Any]
    setup: tuple[str, ...]
    query: str


@dataclass(frozen=True)
class Expectation:
    status: tuple[int, ...] = ()
    json: Any = MISSING
    json_types: Mapping[str, str] = field(default_factory=dict)
    rows: tuple[Mapping[str, Any], ...] | None = None
    row_count: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Check:
    name: str
    kind: Kind
    expect: Expectation
    line: int = 0
    http: HttpCall | None = None
    sql: SqlQuery | None = None
    rls: RlsQuery | None = None
    capture: Mapping[str, str] = field(default_factory=dict)
    generate: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeSpec:
    path: str
    checks: tuple[Check, ...]
    cleanup: tuple[str, ...] = ()
