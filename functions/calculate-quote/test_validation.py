"""The ASGI app's answers to bad requests (no database: every request here fails
validation before storage is touched, or has no SUPABASE_DB_URL / a closed port)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fn_calculate_quote import app
from fn_calculate_quote.handler import MAX_BODY_BYTES, render_quote
from fn_calculate_quote.pricing import (
    DELIVERY_SPEEDS,
    MATERIALS,
    QUALITIES,
    QuoteRequest,
    price_quote,
)
from fn_calculate_quote.storage import DATABASE_URL_ENV, StoredQuote
from fn_calculate_quote.validation import FIELDS, InvalidQuoteRequest, parse_quote_request
from hypothesis import given, settings
from hypothesis import strategies as st

FAST = settings(database=None, deadline=None, max_examples=60)
RUNBOOK = {
    "grams": 100,
    "material": "PLA_STANDARD",
    "quality": "standard",
    "quantity": 1,
    "delivery_speed": "standard",
}
ALLOWED = {
    "material": list(MATERIALS),
    "quality": list(QUALITIES),
    "delivery_speed": list(DELIVERY_SPEEDS),
}


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)


def call(
    body: bytes | str | None = b"",
    method: str = "POST",
    path: str = "/",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://function") as client:
            return await client.request(method, path, content=body, headers=headers)

    return asyncio.run(go())


def post(data: Any) -> httpx.Response:
    return call(json.dumps(data), headers={"Content-Type": "application/json"})


def with_(**changes: Any) -> str:
    """The runbook example with fields replaced; `...` removes a field. As raw JSON text
    so NaN / Infinity / huge literals can be written."""
    fields = {k: json.dumps(v) for k, v in RUNBOOK.items()}
    for key, value in changes.items():
        if value is ...:
            fields.pop(key)
        else:
            fields[key] = value if isinstance(value, Literal) else json.dumps(value)
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}"


class Literal(str):
    """Raw JSON text for a field value."""


def assert_400(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = response.json()
    assert data["field"] == field, data
    assert field in data["error"]
    assert data["errors"][0] == {k: v for k, v in data.items() if k != "errors"}
    if field in ALLOWED:
        assert data["allowed"] == ALLOWED[field]
    return data


# --- the body as a whole -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"{grams: 100}",
        b'{"grams": 100,',
        b"\xff\xfe\x00garbage",
        b"'single quotes'",
        b"[" * 100_00 + b"]" * 100_00,
    ],
)
def test_body_that_is_not_json_is_400(body: bytes) -> None:
    data = assert_400(call(body), "body")
    assert "JSON object" in data["error"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[]", "an array"), ('"hello"', "a string"), ("42", "a number"), ("null", "null"),
     ("true", "a boolean")],
)  # fmt: skip
def test_json_that_is_not_an_object_is_400(text: str, kind: str) -> None:
    data = assert_400(call(text), "body")
    assert f"not {kind}" in data["error"]


def test_byte_order_mark_is_tolerated_and_content_type_is_not_required() -> None:
    # A valid body gets as far as storage, which is not configured here.
    response = call(b"\xef\xbb\xbf" + json.dumps(RUNBOOK).encode(), headers={})
    assert response.status_code == 503


def test_body_larger_than_the_limit_is_413() -> None:
    big = json.dumps({**RUNBOOK, "padding": "x" * MAX_BODY_BYTES})
    response = call(big)
    assert response.status_code == 413
    assert response.json()["field"] == "body"


# --- fields --------------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field_is_400_naming_it(field: str) -> None:
    data = assert_400(call(with_(**{field: ...})), field)
    assert "required" in data["error"]


def test_every_missing_field_is_listed() -> None:
    data = assert_400(post({}), "grams")
    assert [e["field"] for e in data["errors"]] == list(FIELDS)


def test_unknown_field_is_400_naming_it() -> None:
    data = assert_400(post({**RUNBOOK, "qty": 2}), "qty")
    assert data["allowed"] == list(FIELDS)
    assert "unknown field" in data["error"]


def test_duplicate_field_is_400() -> None:
    text = json.dumps(RUNBOOK)[:-1] + ', "grams": 5}'
    data = assert_400(call(text), "grams")
    assert "more than once" in data["error"]


def test_all_problems_are_listed_first_one_on_top() -> None:
    data = assert_400(
        post(
            {
                "grams": -1,
                "material": "WOOD",
                "quality": "standard",
                "quantity": 1.5,
                "delivery_speed": "standard",
                "x": 1,
            }
        ),
        "grams",
    )
    assert [e["field"] for e in data["errors"]] == ["grams", "material", "quantity", "x"]


@pytest.mark.parametrize(
    "value",
    [
        "-1", "0", "-0", "0.004", "50000.01", "50001", "1e400", "-1e400",
        "1e99999999999999999999999", "NaN", "Infinity", "-Infinity", "true", "false",
        '"100"', '""', "null", "[100]", '{"value": 100}',
    ],
)  # fmt: skip
def test_bad_grams_is_400(value: str) -> None:
    data = assert_400(call(with_(grams=Literal(value))), "grams")
    assert "between 0.01 and 50000" in data["error"]


@pytest.mark.parametrize(
    "value",
    [
        "0", "-1", "1001", "2.5", "0.999", "1e400", "NaN", "Infinity", "true", '"1"', "null",
        "[1]",
    ],
)  # fmt: skip
def test_bad_quantity_is_400(value: str) -> None:
    data = assert_400(call(with_(quantity=Literal(value))), "quantity")
    assert "whole number between 1 and 1000" in data["error"]


@pytest.mark.parametrize("field", ["material", "quality", "delivery_speed"])
@pytest.mark.parametrize("value", ['"nope"', '""', "5", "null", "true", '["PLA_STANDARD"]'])
def test_bad_choice_is_400_listing_allowed_values(field: str, value: str) -> None:
    data = assert_400(call(with_(**{field: Literal(value)})), field)
    assert ", ".join(ALLOWED[field]) in data["error"]


def test_wrong_case_gets_a_hint() -> None:
    data = assert_400(post({**RUNBOOK, "material": "pla_standard"}), "material")
    assert "did you mean PLA_STANDARD?" in data["error"]


def test_long_values_are_shortened_in_messages() -> None:
    data = assert_400(post({**RUNBOOK, "material": "W" * 5000, "z" * 5000: 1}), "material")
    assert len(data["error"]) < 400
    assert len(data["errors"][1]["field"]) <= 40


@pytest.mark.parametrize(
    ("grams", "quantity"),
    [("100.0", "1.0"), ("1e2", "1E0"), ("0.005", "1000"), ("50000.004", "1")],
)
def test_numbers_are_exact_decimals(grams: str, quantity: str) -> None:
    request = parse_quote_request(with_(grams=Literal(grams), quantity=Literal(quantity)).encode())
    assert request.grams == Decimal(grams).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert request.quantity == int(Decimal(quantity))


def test_runbook_example_parses() -> None:
    assert parse_quote_request(json.dumps(RUNBOOK).encode()) == QuoteRequest(
        Decimal("100.00"), "PLA_STANDARD", "standard", 1, "standard"
    )


# --- methods, paths, storage ---------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_other_methods_are_405_with_allow_header(method: str) -> None:
    response = call(None, method=method)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    if method != "HEAD":
        assert "POST" in response.json()["error"]


def test_any_path_is_the_function() -> None:
    assert_400(call(b"[]", path="/anything/else?x=1"), "body")


def test_valid_request_without_database_url_is_503_json() -> None:
    response = post(RUNBOOK)
    assert response.status_code == 503
    assert "SUPABASE_DB_URL" in response.json()["error"]


def test_unreachable_database_is_503_json(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(DATABASE_URL_ENV, f"postgresql://postgres@127.0.0.1:{port}/postgres")
    response = post(RUNBOOK)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json() == {"error": "quote storage is unavailable; please try again shortly"}


def test_garbage_database_url_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "not a url = = =")
    assert post(RUNBOOK).status_code == 503


def test_success_body_renders_money_with_two_decimals() -> None:
    created = datetime(2026, 1, 7, 12, 0, 0, 123456, tzinfo=UTC)
    stored = StoredQuote(uuid.uuid4(), created, created + timedelta(days=7))
    breakdown = price_quote(
        QuoteRequest(Decimal("100.00"), "PLA_STANDARD", "standard", 1, "standard")
    )
    text = render_quote(stored, breakdown)
    assert '"platform_fee": 5.00' in text
    assert '"total": 24.00' in text
    data = json.loads(text)
    assert data["quote_id"] == str(stored.id)
    assert data["expires_at"] == "2026-01-14T12:00:00.123456Z"
    assert data["currency"] == "CAD"
    assert data["breakdown"]["total"] == 24


def test_package_loads_like_the_function_host_does() -> None:
    directory = Path(__file__).resolve().parent
    name = f"fn_{uuid.uuid4().hex[:8]}_calculate_quote"
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        assert callable(module.app)
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_lifespan_is_answered() -> None:
    sent: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# --- fuzzing: nothing a client sends gets a 500 -------------------------------------------

# A fixed alphabet (ASCII, JSON's special characters, non-ASCII, a lone surrogate):
# hypothesis' full-unicode text needs a character table that costs seconds to
# build on a fresh checkout, and these tests run in every deployment's preflight.
ALPHABET = 'aZ09 _-."\\/\n\t\x00é…€\u200b\ud800\U0001f600'
texts = st.text(ALPHABET, max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(ALPHABET, max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
field_values = json_values | st.sampled_from(
    [*MATERIALS, *QUALITIES, *DELIVERY_SPEEDS, 100, 1, 0.5, 1e308, -1, 50000]
)
bodies = st.fixed_dictionaries(
    {}, optional={field: field_values for field in FIELDS}
) | st.dictionaries(st.sampled_from([*FIELDS, "extra"]), field_values)


@FAST
@given(st.one_of(bodies.map(json.dumps), json_values.map(json.dumps), st.binary(max_size=64)))
def test_nothing_a_client_sends_gets_a_500(body: str | bytes) -> None:
    response = call(body)
    assert response.status_code in (400, 413, 503), response.text
    assert isinstance(response.json()["error"], str)


def test_validation_error_lists_are_never_empty() -> None:
    with pytest.raises(InvalidQuoteRequest) as caught:
        parse_quote_request(b"{}")
    assert caught.value.errors


@pytest.mark.parametrize("text", [r'"\ud800"', r'"PLA\udfff"'])
def test_lone_surrogates_in_strings_are_a_400_not_a_crash(text: str) -> None:
    body = with_(material=Literal(text))[:-1] + f", {text}: 1}}"
    data = assert_400(call(body), "material")
    assert data["errors"][-1]["error"].startswith("unknown field")
