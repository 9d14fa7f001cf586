"""Unit tests of the price table (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fn_calculate_quote.pricing import (
    BREAKDOWN_PARTS,
    DELIVERY_SPEEDS,
    GRAMS_MAX,
    GRAMS_MIN,
    MATERIALS,
    QUALITIES,
    QUANTITY_MAX,
    QUANTITY_MIN,
    Breakdown,
    QuoteRequest,
    effective_units,
    money,
    price_quote,
)
from hypothesis import given, settings
from hypothesis import strategies as st

D = Decimal
# Few examples: the preflight runs these on every deployment and must stay fast.
FAST = settings(database=None, deadline=None, max_examples=60)


def quote(
    grams: str | int = 100,
    material: str = "PLA_STANDARD",
    quality: str = "standard",
    quantity: int = 1,
    delivery_speed: str = "standard",
) -> Breakdown:
    return price_quote(QuoteRequest(D(grams), material, quality, quantity, delivery_speed))


def amounts(breakdown: Breakdown) -> dict[str, str]:
    return {name: f"{value:.2f}" for name, value in breakdown.items()}


def test_runbook_smoke_test_example_is_exact() -> None:
    assert amounts(quote()) == {
        "platform_fee": "5.00",
        "bed_rental": "10.00",
        "filament_cost": "9.00",
        "quality_surcharge": "0.00",
        "delivery_fee": "0.00",
        "total": "24.00",
    }


def test_parts_come_in_display_order_then_total() -> None:
    assert [name for name, _ in quote().items()] == [*BREAKDOWN_PARTS, "total"]


def test_money_rounds_half_up_to_cents() -> None:
    assert money(D("2.345")) == D("2.35")
    assert money(D("2.344999")) == D("2.34")
    assert money(D("0.005")) == D("0.01")
    assert money(D("0.045")) == D("0.05")  # ROUND_HALF_EVEN would give 0.04
    assert str(money(D("5"))) == "5.00"


def test_filament_cost_rounds_half_up() -> None:
    # 0.5 g × 0.09 = 0.045 → 0.05
    assert quote(grams="0.5").filament_cost == D("0.05")
    # 0.05 g × 0.09 = 0.0045 → 0.00
    assert quote(grams="0.05").filament_cost == D("0.00")


def test_bed_rental_has_a_minimum_per_unit() -> None:
    assert quote(grams="0.01").bed_rental == D("2.00")
    assert quote(grams="20").bed_rental == D("2.00")  # 20 × 0.10 = 2.00
    assert quote(grams="21").bed_rental == D("2.10")
    assert quote(grams="1", quantity=3).bed_rental == D("6.00")


@pytest.mark.parametrize(
    ("material", "bed_rental", "filament_cost", "total"),
    [
        ("PLA_STANDARD", "10.00", "9.00", "24.00"),
        ("PLA_PREMIUM", "10.00", "12.00", "27.00"),
        ("PETG", "11.00", "11.00", "27.00"),
        ("ABS", "12.00", "11.00", "28.00"),
        ("ASA", "12.00", "13.00", "30.00"),
        ("TPU", "15.00", "16.00", "36.00"),
        ("NYLON", "13.00", "20.00", "38.00"),
        ("RESIN_STANDARD", "10.00", "15.00", "30.00"),
        ("RESIN_TOUGH", "10.00", "22.00", "37.00"),
    ],
)
def test_each_material_at_100_grams(
    material: str, bed_rental: str, filament_cost: str, total: str
) -> None:
    b = quote(material=material)
    assert (b.bed_rental, b.filament_cost, b.total) == (D(bed_rental), D(filament_cost), D(total))


def test_every_material_is_tested() -> None:
    assert set(MATERIALS) == {
        "PLA_STANDARD", "PLA_PREMIUM", "PETG", "ABS", "ASA", "TPU", "NYLON",
        "RESIN_STANDARD", "RESIN_TOUGH",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("quality", "bed_rental", "surcharge", "total"),
    [
        ("draft", "7.50", "0.00", "21.50"),
        ("standard", "10.00", "0.00", "24.00"),
        ("high", "15.00", "2.00", "31.00"),
        ("ultra", "22.50", "5.00", "41.50"),
    ],
)
def test_each_quality(quality: str, bed_rental: str, surcharge: str, total: str) -> None:
    b = quote(quality=quality)
    assert (b.bed_rental, b.quality_surcharge, b.total) == (D(bed_rental), D(surcharge), D(total))
    assert set(QUALITIES) == {"draft", "standard", "high", "ultra"}


@pytest.mark.parametrize(
    ("speed", "delivery_fee", "total"),
    [
        ("standard", "0.00", "24.00"),
        ("express", "12.85", "36.85"),  # 10.00 + 15 % of 19.00
        ("rush", "31.65", "55.65"),  # 25.00 + 35 % of 19.00
    ],
)
def test_each_delivery_speed(speed: str, delivery_fee: str, total: str) -> None:
    b = quote(delivery_speed=speed)
    assert (b.delivery_fee, b.total) == (D(delivery_fee), D(total))
    assert set(DELIVERY_SPEEDS) == {"standard", "express", "rush"}


def test_quality_surcharge_and_delivery_percentage_scale_with_quantity() -> None:
    b = quote(quality="ultra", quantity=2, delivery_speed="express")
    assert b.quality_surcharge == D("10.00")
    # production = 45.00 + 18.00 + 10.00 = 73.00 → 10.00 + 10.95
    assert (b.bed_rental, b.filament_cost, b.delivery_fee) == (D("45.00"), D("18.00"), D("20.95"))


@pytest.mark.parametrize(
    ("quantity", "units"),
    [(1, "1"), (9, "9"), (10, "9.9"), (49, "45"), (50, "45.8"), (199, "165"), (200, "165.7"),
     (1000, "725.7")],
)  # fmt: skip
def test_graduated_volume_tiers(quantity: int, units: str) -> None:
    assert effective_units(quantity) == D(units)


def test_quantity_scales_filament_and_bed_time() -> None:
    b = quote(quantity=10)
    assert (b.bed_rental, b.filament_cost, b.total) == (D("99.00"), D("90.00"), D("194.00"))
    assert quote(quantity=9).total == D("5.00") + 9 * (D("10.00") + D("9.00"))


def test_limits_are_accepted_and_the_largest_quote_fits_the_column() -> None:
    smallest = quote(grams=str(GRAMS_MIN), quantity=QUANTITY_MIN, quality="draft")
    assert smallest.total == D("7.00")  # 5.00 + 2.00 minimum bed + 0.00 filament
    largest = max(
        quote(str(GRAMS_MAX), m, q, QUANTITY_MAX, s).total
        for m in MATERIALS
        for q in QUALITIES
        for s in DELIVERY_SPEEDS
    )
    assert largest < D("9999999999.99")  # quotes.total is numeric(12,2)


@pytest.mark.parametrize(
    "request_",
    [
        QuoteRequest(D("0"), "PLA_STANDARD", "standard", 1, "standard"),
        QuoteRequest(GRAMS_MAX + D("0.01"), "PLA_STANDARD", "standard", 1, "standard"),
        QuoteRequest(D(100), "PLA_STANDARD", "standard", 0, "standard"),
        QuoteRequest(D(100), "PLA_STANDARD", "standard", QUANTITY_MAX + 1, "standard"),
        QuoteRequest(D(100), "WOOD", "standard", 1, "standard"),
        QuoteRequest(D(100), "PLA_STANDARD", "best", 1, "standard"),
        QuoteRequest(D(100), "PLA_STANDARD", "standard", 1, "teleport"),
    ],
)
def test_price_quote_refuses_requests_outside_the_table(request_: QuoteRequest) -> None:
    with pytest.raises(ValueError):
        price_quote(request_)


grams_st = st.decimals(min_value=GRAMS_MIN, max_value=GRAMS_MAX, places=2)
quantity_st = st.integers(min_value=QUANTITY_MIN, max_value=QUANTITY_MAX)
material_st = st.sampled_from(sorted(MATERIALS))
quality_st = st.sampled_from(sorted(QUALITIES))
speed_st = st.sampled_from(sorted(DELIVERY_SPEEDS))


@FAST
@given(grams_st, material_st, quality_st, quantity_st, speed_st)
def test_total_is_the_sum_of_parts_all_in_cents_and_not_negative(
    grams: Decimal, material: str, quality: str, quantity: int, speed: str
) -> None:
    b = price_quote(QuoteRequest(grams, material, quality, quantity, speed))
    assert b.total == sum(value for _, value in b.parts())
    for _, value in b.items():
        assert value >= 0
        assert value.as_tuple().exponent == -2
        assert value == money(value)


@FAST
@given(st.lists(grams_st, min_size=2, max_size=2), material_st, quality_st, quantity_st, speed_st)
def test_total_never_decreases_when_grams_grow(
    grams: list[Decimal], material: str, quality: str, quantity: int, speed: str
) -> None:
    low, high = sorted(grams)
    a = price_quote(QuoteRequest(low, material, quality, quantity, speed))
    b = price_quote(QuoteRequest(high, material, quality, quantity, speed))
    assert a.total <= b.total
    assert all(x <= y for (_, x), (_, y) in zip(a.items(), b.items(), strict=True))


@FAST
@given(grams_st, material_st, quality_st, st.lists(quantity_st, min_size=2, max_size=2), speed_st)
def test_total_never_decreases_when_quantity_grows(
    grams: Decimal, material: str, quality: str, quantity: list[int], speed: str
) -> None:
    low, high = sorted(quantity)
    a = price_quote(QuoteRequest(grams, material, quality, low, speed))
    b = price_quote(QuoteRequest(grams, material, quality, high, speed))
    assert a.total <= b.total
    assert all(x <= y for (_, x), (_, y) in zip(a.items(), b.items(), strict=True))


@FAST
@given(grams_st, material_st, quality_st, quantity_st, speed_st)
def test_one_more_unit_never_costs_less(
    grams: Decimal, material: str, quality: str, quantity: int, speed: str
) -> None:
    if quantity == QUANTITY_MAX:
        quantity -= 1
    a = price_quote(QuoteRequest(grams, material, quality, quantity, speed))
    b = price_quote(QuoteRequest(grams, material, quality, quantity + 1, speed))
    assert a.total <= b.total
