"""The smoke file's shape, in one place: these pydantic models are what the file may hold
(keys, defaults, allowed values, keys that exclude each other), what the runner reads, and
what `schema.py` publishes for editors.

Wording for users lives here too: a field's `description` says what it holds (shown after
"is required:"), and `errorMessage` (a JSON Schema keyword editors such as VS Code show)
replaces the generic text when a value is wrong; `{input}` stands for the value given.
`errors.py` turns pydantic's errors into those lines; `references.py` checks the names
that flow between checks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    Tag,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
JsonType = Literal["uuid", "datetime", "date", "string", "number", "integer", "boolean",
                   "null", "object", "array", "any"]
Generator = Literal["uuid"]
MAX_TIMEOUT_S = 120.0
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
ROLE = re.compile(r"[a-z_][a-z0-9_$]*")

Kind = Literal["http", "sql", "rls"]
KINDS: tuple[Kind, ...] = get_args(Kind)


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


# --------------------------------------------------------------------------- value types


def says(message: str) -> dict[str, Any]:
    """`json_schema_extra` for a value whose every mistake is told `message`."""
    return {"errorMessage": message}


def _listed(value: Any) -> Any:
    # A single statement or status may be written without the list around it.
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _scalar_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _text(description: str) -> Any:
    """A string with something in it besides spaces."""
    return Field(pattern=r"\S", description=description)


Name = Annotated[str, Field(
    pattern=f"^{NAME.pattern}$",
    json_schema_extra=says("names are letters, digits and _ (not starting with a digit)"))]
Sql = Annotated[str, Field(pattern=r"\S", json_schema_extra=says(
    "must be an SQL statement (a string)"))]
Statements = Annotated[tuple[Sql, ...], BeforeValidator(
    _listed, json_schema_input_type=Sql | list[Sql])]
Status = Annotated[int, Field(ge=100, le=599, strict=True)]
HeaderName = Annotated[str, Field(
    # Any name but Authorization, in any case (a lookahead: see HttpCall's regex_engine).
    pattern="^(?!" + "".join(f"[{c.upper()}{c}]" for c in "authorization") + "$)",
    json_schema_extra=says("is added by the bot (the environment's anon key); set auth: "
                           "false to send none"))]
HeaderValue = Annotated[str, BeforeValidator(_scalar_text, json_schema_input_type=str | int
                                             | float),
                        Field(json_schema_extra=says("header names and values are strings"))]
HttpSource = Annotated[str, Field(
    pattern=r"^(status|json(\.[^.]+)+|header\.[^.]+)$",
    json_schema_extra=says("cannot capture {input}; allowed: json.<path>, status or "
                           "header.<name>"))]
RowSource = Annotated[str, Field(
    pattern=r"^(row_count|row\.[^.]+|rows\.\d+\.[^.]+)$",
    json_schema_extra=says("cannot capture {input}; allowed: row.<column>, rows.<n>.<column> "
                           "or row_count"))]


# --------------------------------------------------------------------------- the file


class Part(BaseModel):
    """A mapping of the smoke file: unknown keys are refused, nothing changes once read.

    `apart` names keys that cannot be set together, `one_of` keys of which at least one
    must be: declared once, checked here and written into the JSON Schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    apart: ClassVar[tuple[tuple[str, tuple[str, ...], str], ...]] = ()
    one_of: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _together(self) -> Part:
        given = {self._alias(f) for f in self.model_fields_set}
        for key, others, message in self.apart:
            if key in given and given & set(others):
                raise ValueError(message)
        if self.one_of and not given & set(self.one_of):
            raise ValueError(f"needs {_or(self.one_of)}")
        return self

    @classmethod
    def _alias(cls, name: str) -> str:
        return cls.model_fields[name].alias or name

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> JsonSchemaValue:
        schema: JsonSchemaValue = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        rules: list[JsonSchemaValue] = [{"not": {"required": [key, other]}}
                                        for key, others, _ in cls.apart for other in others]
        if cls.one_of:
            rules.append({"anyOf": [{"required": [key]} for key in cls.one_of]})
        if rules:
            target["allOf"] = rules
        return schema


def _or(keys: Sequence[str]) -> str:
    return ", ".join(keys[:-1]) + f" or {keys[-1]}" if len(keys) > 1 else keys[0]


class HttpCall(Part):
    # HeaderName's lookahead needs Python's re (the default engine has none).
    model_config = ConfigDict(title="an http call", regex_engine="python-re")
    apart = (("json", ("body",), "has both json and body; send one"),)

    method: Annotated[Method, BeforeValidator(_upper)] = Field(
        "GET", description="the HTTP method")
    path: str = Field(
        pattern="^/", description="the URL path on the function host, e.g. /functions/v1/<slug>",
        json_schema_extra=says("must start with / (it is joined to the environment's "
                               "functions URL)"))
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict,
                                                   description="header: value")
    json_body: Any = Field(MISSING, alias="json", description="the JSON body, sent as is")
    body: str | None = Field(None, description="the raw body text (use json: for a JSON body)")
    auth: bool = Field(True, strict=True, description="send Authorization: Bearer <anon key>")
    timeout_s: float = Field(
        30.0, alias="timeout", strict=True, gt=0, le=MAX_TIMEOUT_S, description="seconds",
        json_schema_extra=says(f"must be a number of seconds in (0, {MAX_TIMEOUT_S:.0f}]"))


class RlsQuery(Part):
    model_config = ConfigDict(title="an rls check")

    setup: Statements = Field((), description="SQL run as the owner first, in the same "
                                              "transaction")
    role: str = Field(
        alias="as", pattern=f"^{ROLE.pattern}$",
        description="the role to query as, e.g. authenticated or anon",
        json_schema_extra=says("must be a plain role name (lowercase letters, digits, _)"))
    claims: dict[str, Any] = Field(default_factory=dict,
                                   description="the JWT claims, e.g. sub: \"{user}\"")
    query: str = Field(alias="sql", pattern=r"\S", description="the query to run as that role")

    @model_validator(mode="after")
    def _role_claim(self) -> RlsQuery:
        # The claims' role defaults to the role queried as (claims is this model's own dict).
        self.claims.setdefault("role", self.role)
        return self


class HttpExpectation(Part):
    model_config = ConfigDict(title="an http expectation")

    status: Annotated[tuple[Status, ...], BeforeValidator(
        _listed, json_schema_input_type=Status | list[Status])] = Field(
        min_length=1, description="an HTTP status (100-599) or a list of them",
        json_schema_extra=says("is required: an HTTP status (100-599) or a list of them"))
    json_subset: Any = Field(MISSING, alias="json",
                             description="JSON the answer must hold (a subset match)")
    json_types: dict[str, Annotated[JsonType, Field(title="type")]] = Field(
        default_factory=dict, description="path: type")


class RowsExpectation(Part):
    apart = (("error", ("rows", "row_count"),
              "error cannot be combined with rows or row_count (a failing query returns no "
              "rows)"),)
    one_of = ("rows", "row_count", "error")

    rows: tuple[dict[str, Any], ...] | None = Field(None, json_schema_extra=says(
        "must be a list of rows (mappings column: value); [] for none"))
    row_count: int | None = Field(None, strict=True, ge=0,
                                  json_schema_extra=says("must be a whole number ≥ 0"))
    error: Annotated[str, BeforeValidator(_scalar_text, json_schema_input_type=str | int)] | \
        None = Field(None, pattern=r"\S", json_schema_extra=says(
            "must be an SQLSTATE (e.g. 42501) or text the error message contains"))

    @model_validator(mode="after")
    def _count_matches_rows(self) -> RowsExpectation:
        if self.rows is not None and self.row_count is not None and \
                self.row_count != len(self.rows):
            raise ValueError(f"row_count {self.row_count} contradicts the {len(self.rows)} "
                             "rows listed")
        return self


class SqlExpectation(RowsExpectation):
    model_config = ConfigDict(title="an sql expectation")


class RlsExpectation(RowsExpectation):
    model_config = ConfigDict(title="an rls expectation")


class CheckBase(Part):
    kind: ClassVar[Kind]
    _line: int = PrivateAttr(0)

    name: str = _text("what the check verifies")
    generate: dict[Name, Annotated[Generator, Field(title="generator")]] = Field(
        default_factory=dict, description="fresh values, usable like captures: name: uuid")

    @property
    def line(self) -> int:
        """Where the check starts in the file (1-based; 0 when not read from a file)."""
        return self._line

    @model_validator(mode="wrap")
    @classmethod
    def _keep_line(cls, data: Any, handler: ModelWrapValidatorHandler[CheckBase]) -> CheckBase:
        check = handler(data)
        check._line = int(getattr(data, "line", 0))  # yaml_lines' mappings know their line
        return check


class HttpCheck(CheckBase):
    model_config = ConfigDict(title="a check calling a function")
    kind = "http"

    http: HttpCall = Field(description="the call, through the environment's function host")
    expect: HttpExpectation = Field(description="what the check must find (status, json, "
                                                "json_types)")
    capture: dict[Name, HttpSource] = Field(default_factory=dict,
                                            description="name: json.<path>, status or "
                                                        "header.<name>")


class SqlCheck(CheckBase):
    model_config = ConfigDict(title="a check running SQL")
    kind = "sql"

    sql: str = _text("the SQL query to run, as the database owner")
    expect: SqlExpectation = Field(description="what the check must find (rows, row_count "
                                               "or error)")
    capture: dict[Name, RowSource] = Field(default_factory=dict,
                                           description="name: row.<column>, rows.<n>.<column> "
                                                       "or row_count")


class RlsCheck(CheckBase):
    model_config = ConfigDict(title="a check querying as a role")
    kind = "rls"

    rls: RlsQuery = Field(description="one transaction, always rolled back")
    expect: RlsExpectation = Field(description="what the check must find (rows, row_count "
                                               "or error)")
    capture: dict[Name, RowSource] = Field(default_factory=dict,
                                           description="name: row.<column>, rows.<n>.<column> "
                                                       "or row_count")


def _kind_of(value: Any) -> str | None:
    """Which check a mapping is: the one of http, sql, rls it has (None: not exactly one)."""
    if isinstance(value, CheckBase):
        return value.kind
    if isinstance(value, Mapping):
        kinds = [k for k in KINDS if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


CHECK_KIND_ERROR = "check_kind"
Check = Annotated[
    Annotated[HttpCheck, Tag("http")] | Annotated[SqlCheck, Tag("sql")]
    | Annotated[RlsCheck, Tag("rls")],
    Discriminator(_kind_of, custom_error_type=CHECK_KIND_ERROR,
                  custom_error_message="needs exactly one of http, sql, rls")]


class SmokeSpec(Part):
    """deploybot's smoke checks file (tests/backend/smoke.yml)."""

    model_config = ConfigDict(title="the smoke file", json_schema_extra=says(
        "must be a mapping with a `checks` list, not {input}"))

    version: Literal[1] = Field(1, json_schema_extra=says(
        "must be 1 (the only format there is), not {input}"))
    checks: tuple[Check, ...] = Field(
        min_length=1, description="a non-empty list of checks (each with name, one of "
                                  "http/sql/rls, and expect)")
    cleanup: Statements = Field((), description="SQL run when the deployment is rolled back")


