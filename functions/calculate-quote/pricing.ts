/**
 * The price table of `calculate-quote` and the pure function that applies it.
 *
 * Every amount is an exact Decimal in CAD. Each part of the breakdown is computed
 * exactly and rounded once to cents, half up; the total is the sum of the rounded
 * parts, so it always equals what a customer adds up from the breakdown.
 *
 * A quote is for `quantity` identical parts of `grams` grams each:
 *
 * - platform_fee       PLATFORM_FEE, once per quote.
 * - bed_rental         printer time: per unit max(BED_MINIMUM_PER_UNIT,
 *                      grams × BED_RATE_PER_GRAM × material.bedFactor × quality.bedFactor),
 *                      times the *effective* number of units (VOLUME_TIERS: from the 10th
 *                      unit on, units share plates and setup, so later units rent the bed
 *                      at a graduated lower rate — every extra unit still costs more).
 * - filament_cost      grams × quantity × material.pricePerGram.
 * - quality_surcharge  quality.surchargePerUnit × quantity (finishing and inspection).
 * - delivery_fee       speed.flatFee + speed.productionRate × production, where
 *                      production = bed_rental + filament_cost + quality_surcharge (rounded).
 * - total              the sum of the five parts above.
 *
 * Shipping is not part of a quote (the address is not known yet).
 *
 * The runbook's smoke test (100 g PLA_STANDARD, standard, 1 unit, standard delivery) is
 * 5.00 + 10.00 + 9.00 + 0.00 + 0.00 = 24.00.
 */

import { Decimal, max, sum } from "./decimal.ts";

export const CURRENCY = "CAD";
const CENTS = 2;

/** How long a quote can be accepted after it was created (a PostgreSQL interval). */
export const QUOTE_VALIDITY = "7 days";

// Input limits (inclusive). grams is per unit and is rounded to 0.01 g first
// (the `quotes.grams` column is numeric(12,2)).
export const GRAMS_MIN = Decimal.of("0.01");
export const GRAMS_MAX = Decimal.of("50000");
export const QUANTITY_MIN = 1;
export const QUANTITY_MAX = 1000;

export const PLATFORM_FEE = Decimal.of("5.00"); // per quote
export const BED_RATE_PER_GRAM = Decimal.of("0.10"); // printer time at standard quality, per gram
export const BED_MINIMUM_PER_UNIT = Decimal.of("2.00"); // a part occupies the bed however small

export interface Material {
  readonly pricePerGram: Decimal; // CAD per gram of filament (or resin)
  readonly bedFactor: Decimal; // printer time relative to PLA (slower / hotter materials > 1)
  readonly description: string;
}

export interface Quality {
  readonly bedFactor: Decimal; // printer time relative to standard (finer layers take longer)
  readonly surchargePerUnit: Decimal; // CAD per unit for finishing and inspection
  readonly description: string;
}

export interface DeliverySpeed {
  readonly flatFee: Decimal; // CAD per quote
  readonly productionRate: Decimal; // share of the production cost (priority in the queue)
  readonly description: string;
}

function material(pricePerGram: string, bedFactor: string, description: string): Material {
  return Object.freeze({
    pricePerGram: Decimal.of(pricePerGram),
    bedFactor: Decimal.of(bedFactor),
    description,
  });
}

function quality(bedFactor: string, surchargePerUnit: string, description: string): Quality {
  return Object.freeze({
    bedFactor: Decimal.of(bedFactor),
    surchargePerUnit: Decimal.of(surchargePerUnit),
    description,
  });
}

function speed(flatFee: string, productionRate: string, description: string): DeliverySpeed {
  return Object.freeze({
    flatFee: Decimal.of(flatFee),
    productionRate: Decimal.of(productionRate),
    description,
  });
}

// Maps keep their insertion order, which is the order the error messages list.
export const MATERIALS: ReadonlyMap<string, Material> = new Map([
  ["PLA_STANDARD", material("0.09", "1.00", "PLA, standard colours")],
  ["PLA_PREMIUM", material("0.12", "1.00", "PLA, silk/matte/premium")],
  ["PETG", material("0.11", "1.10", "PETG")],
  ["ABS", material("0.11", "1.20", "ABS (enclosed printer)")],
  ["ASA", material("0.13", "1.20", "ASA, UV-resistant (enclosed)")],
  ["TPU", material("0.16", "1.50", "TPU 95A, flexible (printed slowly)")],
  ["NYLON", material("0.20", "1.30", "Nylon PA12 (dried, enclosed)")],
  ["RESIN_STANDARD", material("0.15", "1.00", "standard photopolymer resin")],
  ["RESIN_TOUGH", material("0.22", "1.00", "tough/ABS-like resin")],
]);

export const QUALITIES: ReadonlyMap<string, Quality> = new Map([
  ["draft", quality("0.75", "0.00", "0.28 mm layers")],
  ["standard", quality("1.00", "0.00", "0.20 mm layers")],
  ["high", quality("1.50", "2.00", "0.12 mm layers, inspected")],
  ["ultra", quality("2.25", "5.00", "0.08 mm layers, inspected, finished")],
]);

export const DELIVERY_SPEEDS: ReadonlyMap<string, DeliverySpeed> = new Map([
  ["standard", speed("0.00", "0.00", "ships in 5-7 business days")],
  ["express", speed("10.00", "0.15", "ships in 2-3 business days")],
  ["rush", speed("25.00", "0.35", "ships next business day")],
]);

// Graduated bed-rental rate by unit number: [first unit of the tier, share of the
// per-unit bed rental paid for each unit in the tier]. Like tax brackets, so the
// price never drops when the quantity grows.
export const VOLUME_TIERS: ReadonlyArray<readonly [number, Decimal]> = [
  [1, Decimal.of("1.00")],
  [10, Decimal.of("0.90")],
  [50, Decimal.of("0.80")],
  [200, Decimal.of("0.70")],
];

export const BREAKDOWN_PARTS = [
  "platform_fee",
  "bed_rental",
  "filament_cost",
  "quality_surcharge",
  "delivery_fee",
] as const;
export type BreakdownPart = typeof BREAKDOWN_PARTS[number];

export interface QuoteRequest {
  readonly grams: Decimal; // per unit, already rounded to 0.01
  readonly material: string;
  readonly quality: string;
  readonly quantity: number;
  readonly deliverySpeed: string;
}

export class Breakdown {
  constructor(readonly amounts: Readonly<Record<BreakdownPart, Decimal>>) {}

  get total(): Decimal {
    return money(sum(this.parts().map(([, amount]) => amount)));
  }

  /** The parts in display order, without the total. */
  parts(): Array<[BreakdownPart, Decimal]> {
    return BREAKDOWN_PARTS.map((name) => [name, this.amounts[name]]);
  }

  /** The parts in display order, then `["total", total]`. */
  items(): Array<[BreakdownPart | "total", Decimal]> {
    return [...this.parts(), ["total", this.total]];
  }
}

/** `amount` rounded to cents, half up. */
export function money(amount: Decimal): Decimal {
  return amount.quantize(CENTS);
}

/** How many full-rate bed rentals `quantity` units cost (see VOLUME_TIERS). */
export function effectiveUnits(quantity: number): Decimal {
  let units = Decimal.ZERO;
  VOLUME_TIERS.forEach(([first, share], index) => {
    const last = index + 1 < VOLUME_TIERS.length ? VOLUME_TIERS[index + 1][0] - 1 : quantity;
    const inTier = Math.min(quantity, last) - first + 1;
    if (inTier > 0) units = units.plus(share.times(inTier));
  });
  return units;
}

/** Apply the price table. Throws RangeError for a request outside the table or limits. */
export function priceQuote(request: QuoteRequest): Breakdown {
  const material = MATERIALS.get(request.material);
  const quality = QUALITIES.get(request.quality);
  const speed = DELIVERY_SPEEDS.get(request.deliverySpeed);
  if (material === undefined || quality === undefined || speed === undefined) {
    throw new RangeError("unknown material, quality or delivery speed");
  }
  if (request.grams.lessThan(GRAMS_MIN) || request.grams.greaterThan(GRAMS_MAX)) {
    throw new RangeError(`grams must be between ${GRAMS_MIN} and ${GRAMS_MAX}`);
  }
  if (
    !Number.isInteger(request.quantity) ||
    request.quantity < QUANTITY_MIN || request.quantity > QUANTITY_MAX
  ) {
    throw new RangeError(`quantity must be between ${QUANTITY_MIN} and ${QUANTITY_MAX}`);
  }
  const bedPerUnit = max(
    BED_MINIMUM_PER_UNIT,
    request.grams.times(BED_RATE_PER_GRAM).times(material.bedFactor).times(quality.bedFactor),
  );
  const bedRental = money(bedPerUnit.times(effectiveUnits(request.quantity)));
  const filamentCost = money(request.grams.times(request.quantity).times(material.pricePerGram));
  const qualitySurcharge = money(quality.surchargePerUnit.times(request.quantity));
  const production = bedRental.plus(filamentCost).plus(qualitySurcharge);
  const deliveryFee = money(speed.flatFee.plus(speed.productionRate.times(production)));
  return new Breakdown({
    platform_fee: money(PLATFORM_FEE),
    bed_rental: bedRental,
    filament_cost: filamentCost,
    quality_surcharge: qualitySurcharge,
    delivery_fee: deliveryFee,
  });
}
