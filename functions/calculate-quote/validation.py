"""Turn a request body into a `QuoteRequest`, or say exactly what is wrong with it.

Rules (documented in README.md):

- The body is UTF-8 JSON (a BOM is tolerated) holding one object with exactly the
  fields grams, material, quality, quantity, delivery_speed. Missing, duplicated and
  unknown fields are errors (an unknown field is usually a typo, e.g. "qty").
- JSON has a single number type, so numbers are read as exact decimals: `2.0` is a
  valid quantity, `2.5` is not. Strings, booleans and null are never numbers.
  NaN / Infinity (which JSON does not allow, but many encoders emit) are rejected
  with the field named.
- grams is rounded to 0.01 g (half up), then must lie in [GRAMS_MIN, GRAMS_MAX].
- material, quality and delivery_speed must match a key of the price table
  exactly (case-sensitive); the error lists the allowed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .pricing import (
    DELIVERY_SPEEDS,
    GRAMS_MAX,
    GRAMS_MIN,
    MATERIALS,
    QUALITIES,
    QUANTITY_MAX,
    QUANTITY_MIN,
    QuoteRequest,
)

FIELDS: tuple[str, ...] = ("grams", "material", "quality", "quantity", "delivery_speed")
BODY = "body"  # the `field` of an error about the body as a whole
_SHOWN = 40  # characters of an offending value quoted back in an error


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    allowed: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "field": self.field}
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        return out


class InvalidQuoteRequest(Exception):
    """The body cannot be quoted; `errors` lists every problem found, most basic first."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors

    @property
    def first(self) -> FieldError:
        return self.errors[0]


class _Unrepresentable(str):
    """A JSON number literal too large for Decimal (e.g. 1e99999999999999999999)."""


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _number(text: str) -> Decimal | _Unrepresentable:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return _Unrepresentable(text)


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated: list[str] = []
        for key, _ in pairs:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
        obj.duplicates = tuple(repeated)
    return obj


def _shown(value: object) -> str:
    """A short rendering of an offending JSON value for an error message."""
    if isinstance(value, Decimal | _Unrepresentable):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = "…"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _name(field: str) -> str:
    return field if len(field) <= _SHOWN else field[: _SHOWN - 1] + "…"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str) and not isinstance(value, _Unrepresentable):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def decode_body(body: bytes) -> _Object:
    """The body as a JSON object; raises InvalidQuoteRequest (field "body") otherwise."""
    expected = "send a JSON object with " + ", ".join(FIELDS)
    if not body.strip():
        raise InvalidQuoteRequest([FieldError(BODY, f"request body is empty: {expected}")])
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidQuoteRequest(
            [FieldError(BODY, f"request body is not UTF-8 text: {expected}")]
        ) from None
    try:
        value = json.loads(
            text,
            parse_float=_number,
            parse_int=_number,
            parse_constant=_number,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as exc:
        raise InvalidQuoteRequest(
            [
                FieldError(
                    BODY,
                    f"request body is not valid JSON ({exc.msg} at line {exc.lineno} "
                    f"column {exc.colno}): {expected}",
                )
            ]
        ) from None
    except RecursionError:
        raise InvalidQuoteRequest(
            [FieldError(BODY, f"request body is nested too deeply: {expected}")]
        ) from None
    if not isinstance(value, _Object):
        raise InvalidQuoteRequest(
            [
                FieldError(
                    BODY, f"request body must be a JSON object, not {_json_type(value)}: {expected}"
                )
            ]
        )
    return value


def _as_number(field: str, value: object) -> Decimal | FieldError:
    """`value` as a finite Decimal, or the error naming `field` and its requirement."""
    wanted = f"{field} must be {_requirement(field)}"
    if isinstance(value, _Unrepresentable):
        return FieldError(field, f"{wanted}; got {_shown(value)}")
    if not isinstance(value, Decimal):
        return FieldError(field, f"{wanted}, not {_json_type(value)} ({_shown(value)})")
    if not value.is_finite():
        return FieldError(field, f"{wanted}; got {_shown(value)}, which is not a finite number")
    return value


def _grams(value: object) -> Decimal | FieldError:
    number = _as_number("grams", value)
    if isinstance(number, FieldError):
        return number
    out_of_range = FieldError(
        "grams", f"grams must be {_requirement('grams')}; got {_shown(value)}"
    )
    if not GRAMS_MIN - 1 <= number <= GRAMS_MAX + 1:  # (quantize is not safe on any size)
        return out_of_range
    grams = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return grams if GRAMS_MIN <= grams <= GRAMS_MAX else out_of_range


def _quantity(value: object) -> int | FieldError:
    number = _as_number("quantity", value)
    if isinstance(number, FieldError):
        return number
    if not QUANTITY_MIN <= number <= QUANTITY_MAX or number != number.to_integral_value():
        return FieldError(
            "quantity", f"quantity must be {_requirement('quantity')}; got {_shown(value)}"
        )
    return int(number)


def _choice(field: str, value: object) -> str | FieldError:
    allowed = _allowed(field) or ()
    listing = ", ".join(allowed)
    if not isinstance(value, str) or isinstance(value, _Unrepresentable):
        return FieldError(
            field,
            f"{field} must be one of {listing}; got {_json_type(value)} ({_shown(value)})",
            allowed,
        )
    if value in allowed:
        return value
    hint = ""
    for option in allowed:
        if option.lower() == value.strip().lower():
            hint = f" (did you mean {option}? values are case-sensitive)"
            break
    return FieldError(
        field, f"{field} must be one of {listing}; got {_shown(value)}{hint}", allowed
    )


def parse_quote_request(body: bytes) -> QuoteRequest:
    """Validate a request body completely; raises InvalidQuoteRequest listing every problem."""
    data = decode_body(body)
    errors: list[FieldError] = [
        FieldError(_name(field), f"field {_shown(field)} appears more than once")
        for field in data.duplicates
    ]
    missing = [
        FieldError(field, f"{field} is required: {_requirement(field)}", _allowed(field))
        for field in FIELDS
        if field not in data
    ]
    errors.extend(missing)

    grams = _grams(data.get("grams")) if "grams" in data else None
    material = _choice("material", data.get("material")) if "material" in data else None
    quality = _choice("quality", data.get("quality")) if "quality" in data else None
    quantity = _quantity(data.get("quantity")) if "quantity" in data else None
    speed = (
        _choice("delivery_speed", data.get("delivery_speed")) if "delivery_speed" in data else None
    )
    errors.extend(
        result
        for result in (grams, material, quality, quantity, speed)
        if isinstance(result, FieldError)
    )
    errors.extend(
        FieldError(
            _name(field),
            f"unknown field {_shown(field)}; the fields are {', '.join(FIELDS)}",
            FIELDS,
        )
        for field in data
        if field not in FIELDS
    )
    if (
        errors
        or not isinstance(grams, Decimal)
        or not isinstance(material, str)
        or not isinstance(quality, str)
        or not isinstance(quantity, int)
        or not isinstance(speed, str)
    ):
        raise InvalidQuoteRequest(errors or [FieldError(BODY, "request body is invalid")])
    return QuoteRequest(
        grams=grams, material=material, quality=quality, quantity=quantity, delivery_speed=speed
    )


def _allowed(field: str) -> tuple[str, ...] | None:
    table = {"material": MATERIALS, "quality": QUALITIES, "delivery_speed": DELIVERY_SPEEDS}
    return tuple(table[field]) if field in table else None


def _requirement(field: str) -> str:
    if field == "grams":
        return f"a number (grams per unit) between {GRAMS_MIN} and {GRAMS_MAX}"
    if field == "quantity":
        return f"a whole number between {QUANTITY_MIN} and {QUANTITY_MAX}"
    return "one of " + ", ".join(_allowed(field) or ())
