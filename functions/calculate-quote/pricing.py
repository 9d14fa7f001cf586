"""The price table of `calculate-quote` and the pure function that applies it.

Every amount is a `Decimal` in CAD. Each part of the breakdown is computed exactly
and rounded once to cents with ROUND_HALF_UP; the total is the sum of the rounded
parts, so it always equals what a customer adds up from the breakdown.

A quote is for `quantity` identical parts of `grams` grams each:

- platform_fee       PLATFORM_FEE, once per quote.
- bed_rental         printer time: per unit max(BED_MINIMUM_PER_UNIT,
                     grams × BED_RATE_PER_GRAM × material.bed_factor × quality.bed_factor),
                     times the *effective* number of units (VOLUME_TIERS: from the 10th
                     unit on, units share plates and setup, so later units rent the bed
                     at a graduated lower rate — every extra unit still costs more).
- filament_cost      grams × quantity × material.price_per_gram.
- quality_surcharge  quality.surcharge_per_unit × quantity (finishing and inspection).
- delivery_fee       speed.flat_fee + speed.production_rate × production, where
                     production = bed_rental + filament_cost + quality_surcharge (rounded).
- total              the sum of the five parts above.

Shipping is not part of a quote (the address is not known yet).

The runbook's smoke test (100 g PLA_STANDARD, standard, 1 unit, standard delivery) is
5.00 + 10.00 + 9.00 + 0.00 + 0.00 = 24.00.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from types import MappingProxyType

CURRENCY = "CAD"
CENT = Decimal("0.01")

# How long a quote can be accepted after it was created.
QUOTE_VALIDITY = timedelta(days=7)

# Input limits (inclusive). grams is per unit and is rounded to 0.01 g first
# (the `quotes.grams` column is numeric(12,2)).
GRAMS_MIN = Decimal("0.01")
GRAMS_MAX = Decimal("50000")
QUANTITY_MIN = 1
QUANTITY_MAX = 1000

PLATFORM_FEE = Decimal("5.00")  # per quote
BED_RATE_PER_GRAM = Decimal("0.10")  # printer time at standard quality, per gram printed
BED_MINIMUM_PER_UNIT = Decimal("2.00")  # a part occupies the bed however small it is


@dataclass(frozen=True)
class Material:
    price_per_gram: Decimal  # CAD per gram of filament (or resin)
    bed_factor: Decimal  # printer time relative to PLA (slower / hotter materials > 1)
    description: str


@dataclass(frozen=True)
class Quality:
    bed_factor: Decimal  # printer time relative to standard (finer layers take longer)
    surcharge_per_unit: Decimal  # CAD per unit for finishing and inspection
    description: str


@dataclass(frozen=True)
class DeliverySpeed:
    flat_fee: Decimal  # CAD per quote
    production_rate: Decimal  # share of the production cost (priority in the queue)
    description: str


MATERIALS: Mapping[str, Material] = MappingProxyType(
    {
        "PLA_STANDARD": Material(Decimal("0.09"), Decimal("1.00"), "PLA, standard colours"),
        "PLA_PREMIUM": Material(Decimal("0.12"), Decimal("1.00"), "PLA, silk/matte/premium"),
        "PETG": Material(Decimal("0.11"), Decimal("1.10"), "PETG"),
        "ABS": Material(Decimal("0.11"), Decimal("1.20"), "ABS (enclosed printer)"),
        "ASA": Material(Decimal("0.13"), Decimal("1.20"), "ASA, UV-resistant (enclosed)"),
        "TPU": Material(Decimal("0.16"), Decimal("1.50"), "TPU 95A, flexible (printed slowly)"),
        "NYLON": Material(Decimal("0.20"), Decimal("1.30"), "Nylon PA12 (dried, enclosed)"),
        "RESIN_STANDARD": Material(Decimal("0.15"), Decimal("1.00"), "standard photopolymer resin"),
        "RESIN_TOUGH": Material(Decimal("0.22"), Decimal("1.00"), "tough/ABS-like resin"),
    }
)

QUALITIES: Mapping[str, Quality] = MappingProxyType(
    {
        "draft": Quality(Decimal("0.75"), Decimal("0.00"), "0.28 mm layers"),
        "standard": Quality(Decimal("1.00"), Decimal("0.00"), "0.20 mm layers"),
        "high": Quality(Decimal("1.50"), Decimal("2.00"), "0.12 mm layers, inspected"),
        "ultra": Quality(Decimal("2.25"), Decimal("5.00"), "0.08 mm layers, inspected, finished"),
    }
)

DELIVERY_SPEEDS: Mapping[str, DeliverySpeed] = MappingProxyType(
    {
        "standard": DeliverySpeed(Decimal("0.00"), Decimal("0.00"), "ships in 5-7 business days"),
        "express": DeliverySpeed(Decimal("10.00"), Decimal("0.15"), "ships in 2-3 business days"),
        "rush": DeliverySpeed(Decimal("25.00"), Decimal("0.35"), "ships next business day"),
    }
)

# Graduated bed-rental rate by unit number: (first unit of the tier, share of the
# per-unit bed rental paid for each unit in the tier). Like tax brackets, so the
# price never drops when the quantity grows.
VOLUME_TIERS: tuple[tuple[int, Decimal], ...] = (
    (1, Decimal("1.00")),
    (10, Decimal("0.90")),
    (50, Decimal("0.80")),
    (200, Decimal("0.70")),
)

BREAKDOWN_PARTS: tuple[str, ...] = (
    "platform_fee",
    "bed_rental",
    "filament_cost",
    "quality_surcharge",
    "delivery_fee",
)

# Exact arithmetic for every input within the limits (at most ~20 significant digits).
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class QuoteRequest:
    grams: Decimal  # per unit, already rounded to 0.01
    material: str
    quality: str
    quantity: int
    delivery_speed: str


@dataclass(frozen=True)
class Breakdown:
    platform_fee: Decimal
    bed_rental: Decimal
    filament_cost: Decimal
    quality_surcharge: Decimal
    delivery_fee: Decimal

    @property
    def total(self) -> Decimal:
        return money(sum((amount for _, amount in self.parts()), Decimal("0")))

    def parts(self) -> list[tuple[str, Decimal]]:
        """The parts in display order, without the total."""
        return [(name, getattr(self, name)) for name in BREAKDOWN_PARTS]

    def items(self) -> list[tuple[str, Decimal]]:
        """The parts in display order, then `("total", total)`."""
        return [*self.parts(), ("total", self.total)]


def money(amount: Decimal) -> Decimal:
    """`amount` rounded to cents, half up."""
    with localcontext(_CONTEXT):
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def effective_units(quantity: int) -> Decimal:
    """How many full-rate bed rentals `quantity` units cost (see VOLUME_TIERS)."""
    units = Decimal("0")
    for index, (first, share) in enumerate(VOLUME_TIERS):
        last = VOLUME_TIERS[index + 1][0] - 1 if index + 1 < len(VOLUME_TIERS) else quantity
        in_tier = min(quantity, last) - first + 1
        if in_tier > 0:
            units += share * in_tier
    return units


def price_quote(request: QuoteRequest) -> Breakdown:
    """Apply the price table. Raises ValueError for a request outside the table or limits."""
    material = MATERIALS.get(request.material)
    quality = QUALITIES.get(request.quality)
    speed = DELIVERY_SPEEDS.get(request.delivery_speed)
    if material is None or quality is None or speed is None:
        raise ValueError("unknown material, quality or delivery speed")
    if not GRAMS_MIN <= request.grams <= GRAMS_MAX:
        raise ValueError(f"grams must be between {GRAMS_MIN} and {GRAMS_MAX}")
    if not QUANTITY_MIN <= request.quantity <= QUANTITY_MAX:
        raise ValueError(f"quantity must be between {QUANTITY_MIN} and {QUANTITY_MAX}")

    with localcontext(_CONTEXT):
        bed_per_unit = max(
            BED_MINIMUM_PER_UNIT,
            request.grams * BED_RATE_PER_GRAM * material.bed_factor * quality.bed_factor,
        )
        bed_rental = money(bed_per_unit * effective_units(request.quantity))
        filament_cost = money(request.grams * request.quantity * material.price_per_gram)
        quality_surcharge = money(quality.surcharge_per_unit * request.quantity)
        production = bed_rental + filament_cost + quality_surcharge
        delivery_fee = money(speed.flat_fee + speed.production_rate * production)
        return Breakdown(
            platform_fee=money(PLATFORM_FEE),
            bed_rental=bed_rental,
            filament_cost=filament_cost,
            quality_surcharge=quality_surcharge,
            delivery_fee=delivery_fee,
        )
