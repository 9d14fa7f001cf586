"""The kinds of value `.github/deploybot.yml` holds, as pydantic annotations.

Each kind is the library's own check (strict types, bounds, patterns, choices) plus the one
sentence a person reads when a value is not of the kind: `expected <what>, got <value>`.
pydantic's own wording ("Input should be a valid integer") never reaches a user, and the
JSON Schema (service/config/schema.py) is derived from the same core schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# The error type of every message written here: load.py shows these as they are.
WORDED = "deploybot_config"


def show(value: Any) -> str:
    """A value as a message quotes it, shortened (a YAML value may be long)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def worded(schema: CoreSchema, message: str) -> CoreSchema:
    """`schema`, whose every failure reads `message` ({got}: the value as written)."""

    def wrap(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(WORDED, message, {"got": show(value)}) from None

    return core_schema.no_info_wrap_validator_function(wrap, schema)


def refuse(message: str) -> PydanticCustomError:
    """A rule's own message (for a validator to raise)."""
    return PydanticCustomError(WORDED, message)


@dataclass(frozen=True)
class Text:
    """A string, matching `pattern` when given (Python's re: the path rule needs lookahead;
    JSON Schema's ECMA-262 patterns read it alike)."""

    pattern: str | None = None
    what: str = "a string"
    message: str | None = None  # the whole sentence, when "expected …, got …" does not fit

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        inner = core_schema.str_schema(strict=True, pattern=self.pattern,
                                       regex_engine="python-re")
        return worded(inner, self.message or f"expected {self.what}, got {{got}}")


@dataclass(frozen=True)
class Flag:
    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        return worded(core_schema.bool_schema(strict=True), "expected true or false, got {got}")


@dataclass(frozen=True)
class Number:
    """A number from `lo` to `hi`; `whole`: an integer (2.0 and true are not)."""

    lo: float
    hi: float
    whole: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        inner: CoreSchema
        if self.whole:
            inner = core_schema.int_schema(strict=True, ge=int(self.lo), le=int(self.hi))
        else:  # strict: an int is a number, a boolean or "1" is not
            inner = core_schema.float_schema(strict=True, ge=self.lo, le=self.hi,
                                             allow_inf_nan=False)
        kind = "a whole number" if self.whole else "a number"
        return worded(inner, f"expected {kind} from {self.lo:g} to {self.hi:g}, got {{got}}")


@dataclass(frozen=True)
class OneOf:
    options: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        return worded(core_schema.literal_schema(list(self.options)),
                      f"expected one of {', '.join(self.options)}, got {{got}}")


_DURATION = r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$"
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Duration:
    """Seconds, written as a number or as `30s`, `5m`, `1h`, `250ms`."""

    lo: float = 1.0
    hi: float = 7 * 86400.0

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        def seconds(value: Any) -> Any:
            if isinstance(value, str) and (m := re.match(_DURATION, value)) is not None:
                return float(m.group(1)) * _SCALE[m.group(2)]
            return value  # a number (or not: the float check says so)

        inner = core_schema.no_info_before_validator_function(
            seconds, core_schema.float_schema(strict=True, ge=self.lo, le=self.hi,
                                              allow_inf_nan=False))
        return worded(inner, f"expected a duration like 30s, 5m or 1h, from {_span(self.lo)} "
                             f"to {_span(self.hi)}, got {{got}}")

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        return {"anyOf": [
            {"type": "number", "minimum": self.lo, "maximum": self.hi},
            {"type": "string", "pattern": _DURATION},
        ]}


@dataclass(frozen=True)
class Branches:
    """A branch name or a list of them, kept as a tuple."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        name = core_schema.str_schema(strict=True, min_length=1)
        inner = core_schema.no_info_before_validator_function(
            _listed, core_schema.tuple_schema([name], variadic_item_index=0, strict=True))
        return worded(inner, "expected a branch name or a list of them, got {got}")

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        name = {"type": "string", "minLength": 1}
        return {"anyOf": [name, {"type": "array", "items": name}]}


def _listed(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value

