/** Unit tests of the price table (no database). */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { Decimal, sum } from "./decimal.ts";
import {
  Breakdown,
  BREAKDOWN_PARTS,
  DELIVERY_SPEEDS,
  effectiveUnits,
  GRAMS_MAX,
  GRAMS_MIN,
  MATERIALS,
  money,
  priceQuote,
  QUALITIES,
  QUANTITY_MAX,
  QUANTITY_MIN,
  type QuoteRequest,
} from "./pricing.ts";
import { forExamples, type Random } from "./test_support.ts";

const D = (value: string | number) => Decimal.of(value);
// Few examples: the preflight runs these on every deployment and must stay fast.
const EXAMPLES = 60;

function request(
  grams: string | number = 100,
  material = "PLA_STANDARD",
  quality = "standard",
  quantity = 1,
  deliverySpeed = "standard",
): QuoteRequest {
  return { grams: D(grams), material, quality, quantity, deliverySpeed };
}

function quote(...args: Parameters<typeof request>): Breakdown {
  return priceQuote(request(...args));
}

function amounts(breakdown: Breakdown): Record<string, string> {
  return Object.fromEntries(breakdown.items().map(([name, value]) => [name, value.toString()]));
}

function assertSame(actual: Decimal, expected: Decimal | string): void {
  const wanted = typeof expected === "string" ? D(expected) : expected;
  ok(actual.equals(wanted), `${actual} != ${wanted}`);
}

Deno.test("runbook smoke test example is exact", () => {
  deepStrictEqual(amounts(quote()), {
    platform_fee: "5.00",
    bed_rental: "10.00",
    filament_cost: "9.00",
    quality_surcharge: "0.00",
    delivery_fee: "0.00",
    total: "24.00",
  });
});

Deno.test("parts come in display order then total", () => {
  deepStrictEqual(quote().items().map(([name]) => name), [...BREAKDOWN_PARTS, "total"]);
});

Deno.test("money rounds half up to cents", () => {
  assertSame(money(D("2.345")), "2.35");
  assertSame(money(D("2.344999")), "2.34");
  assertSame(money(D("0.005")), "0.01");
  assertSame(money(D("0.045")), "0.05"); // half-even rounding would give 0.04
  strictEqual(money(D("5")).toString(), "5.00");
});

Deno.test("filament cost rounds half up", () => {
  assertSame(quote("0.5").amounts.filament_cost, "0.05"); // 0.5 g × 0.09 = 0.045 → 0.05
  assertSame(quote("0.05").amounts.filament_cost, "0.00"); // 0.05 g × 0.09 = 0.0045 → 0.00
});

Deno.test("bed rental has a minimum per unit", () => {
  assertSame(quote("0.01").amounts.bed_rental, "2.00");
  assertSame(quote("20").amounts.bed_rental, "2.00"); // 20 × 0.10 = 2.00
  assertSame(quote("21").amounts.bed_rental, "2.10");
  assertSame(quote("1", "PLA_STANDARD", "standard", 3).amounts.bed_rental, "6.00");
});

const MATERIAL_CASES: Array<[string, string, string, string]> = [
  ["PLA_STANDARD", "10.00", "9.00", "24.00"],
  ["PLA_PREMIUM", "10.00", "12.00", "27.00"],
  ["PETG", "11.00", "11.00", "27.00"],
  ["ABS", "12.00", "11.00", "28.00"],
  ["ASA", "12.00", "13.00", "30.00"],
  ["TPU", "15.00", "16.00", "36.00"],
  ["NYLON", "13.00", "20.00", "38.00"],
  ["RESIN_STANDARD", "10.00", "15.00", "30.00"],
  ["RESIN_TOUGH", "10.00", "22.00", "37.00"],
];
for (const [material, bedRental, filamentCost, total] of MATERIAL_CASES) {
  Deno.test(`each material at 100 grams: ${material}`, () => {
    const b = quote(100, material);
    deepStrictEqual(
      [b.amounts.bed_rental, b.amounts.filament_cost, b.total].map(String),
      [bedRental, filamentCost, total],
    );
  });
}

Deno.test("every material is tested", () => {
  deepStrictEqual(new Set(MATERIALS.keys()), new Set(MATERIAL_CASES.map(([m]) => m)));
  deepStrictEqual(
    new Set(MATERIALS.keys()),
    new Set([
      "PLA_STANDARD",
      "PLA_PREMIUM",
      "PETG",
      "ABS",
      "ASA",
      "TPU",
      "NYLON",
      "RESIN_STANDARD",
      "RESIN_TOUGH",
    ]),
  );
});

for (
  const [quality, bedRental, surcharge, total] of [
    ["draft", "7.50", "0.00", "21.50"],
    ["standard", "10.00", "0.00", "24.00"],
    ["high", "15.00", "2.00", "31.00"],
    ["ultra", "22.50", "5.00", "41.50"],
  ]
) {
  Deno.test(`each quality: ${quality}`, () => {
    const b = quote(100, "PLA_STANDARD", quality);
    deepStrictEqual(
      [b.amounts.bed_rental, b.amounts.quality_surcharge, b.total].map(String),
      [bedRental, surcharge, total],
    );
    deepStrictEqual(new Set(QUALITIES.keys()), new Set(["draft", "standard", "high", "ultra"]));
  });
}

for (
  const [speed, deliveryFee, total] of [
    ["standard", "0.00", "24.00"],
    ["express", "12.85", "36.85"], // 10.00 + 15 % of 19.00
    ["rush", "31.65", "55.65"], // 25.00 + 35 % of 19.00
  ]
) {
  Deno.test(`each delivery speed: ${speed}`, () => {
    const b = quote(100, "PLA_STANDARD", "standard", 1, speed);
    deepStrictEqual([b.amounts.delivery_fee, b.total].map(String), [deliveryFee, total]);
    deepStrictEqual(new Set(DELIVERY_SPEEDS.keys()), new Set(["standard", "express", "rush"]));
  });
}

Deno.test("quality surcharge and delivery percentage scale with quantity", () => {
  const b = quote(100, "PLA_STANDARD", "ultra", 2, "express");
  assertSame(b.amounts.quality_surcharge, "10.00");
  // production = 45.00 + 18.00 + 10.00 = 73.00 → 10.00 + 10.95
  deepStrictEqual(
    [b.amounts.bed_rental, b.amounts.filament_cost, b.amounts.delivery_fee].map(String),
    ["45.00", "18.00", "20.95"],
  );
});

for (
  const [quantity, units] of [
    [1, "1"],
    [9, "9"],
    [10, "9.9"],
    [49, "45"],
    [50, "45.8"],
    [199, "165"],
    [200, "165.7"],
    [1000, "725.7"],
  ] as const
) {
  Deno.test(`graduated volume tiers: ${quantity} units`, () => {
    assertSame(effectiveUnits(quantity), units);
  });
}

Deno.test("quantity scales filament and bed time", () => {
  const b = quote(100, "PLA_STANDARD", "standard", 10);
  deepStrictEqual(
    [b.amounts.bed_rental, b.amounts.filament_cost, b.total].map(String),
    ["99.00", "90.00", "194.00"],
  );
  assertSame(
    quote(100, "PLA_STANDARD", "standard", 9).total,
    D("5.00").plus(D("10.00").plus(D("9.00")).times(9)),
  );
});

Deno.test("limits are accepted and the largest quote fits the column", () => {
  const smallest = quote(GRAMS_MIN.toString(), "PLA_STANDARD", "draft", QUANTITY_MIN);
  assertSame(smallest.total, "7.00"); // 5.00 + 2.00 minimum bed + 0.00 filament
  let largest = Decimal.ZERO;
  for (const m of MATERIALS.keys()) {
    for (const q of QUALITIES.keys()) {
      for (const s of DELIVERY_SPEEDS.keys()) {
        const total = quote(GRAMS_MAX.toString(), m, q, QUANTITY_MAX, s).total;
        if (total.greaterThan(largest)) largest = total;
      }
    }
  }
  assertSame(largest, "27834819.38"); // 50000 g NYLON, ultra, ×1000, rush
  ok(largest.lessThan(D("9999999999.99"))); // quotes.total is numeric(12,2)
});

for (
  const [args, expected] of [
    [[100, "PLA_STANDARD", "standard", 1, "standard"], "5.00 10.00 9.00 0.00 0.00 24.00"],
    [[100, "PLA_STANDARD", "standard", 10, "standard"], "5.00 99.00 90.00 0.00 0.00 194.00"],
    [[250, "PETG", "high", 4, "express"], "5.00 165.00 110.00 8.00 52.45 340.45"],
    [[15, "TPU", "draft", 1, "rush"], "5.00 2.00 2.40 0.00 26.54 35.94"],
  ] as const
) {
  Deno.test(`README example: ${args.join(" ")}`, () => {
    strictEqual(Object.values(amounts(quote(...args))).join(" "), expected);
  });
}

const OUTSIDE: QuoteRequest[] = [
  request(0),
  { ...request(), grams: GRAMS_MAX.plus(D("0.01")) },
  request(100, "PLA_STANDARD", "standard", 0),
  request(100, "PLA_STANDARD", "standard", QUANTITY_MAX + 1),
  request(100, "WOOD"),
  request(100, "PLA_STANDARD", "best"),
  request(100, "PLA_STANDARD", "standard", 1, "teleport"),
];
OUTSIDE.forEach((outside, index) => {
  Deno.test(`priceQuote refuses requests outside the table #${index}`, () => {
    throws(() => priceQuote(outside), RangeError);
  });
});

// --- properties over seeded random requests ----------------------------------------------

function drawGrams(random: Random): Decimal {
  return new Decimal(BigInt(random.int(1, 5_000_000)), 2); // 0.01 … 50000.00
}

function drawRequest(random: Random): QuoteRequest {
  return {
    grams: drawGrams(random),
    material: random.pick([...MATERIALS.keys()]),
    quality: random.pick([...QUALITIES.keys()]),
    quantity: random.int(QUANTITY_MIN, QUANTITY_MAX),
    deliverySpeed: random.pick([...DELIVERY_SPEEDS.keys()]),
  };
}

function assertNotCheaper(a: Breakdown, b: Breakdown): void {
  ok(!a.total.greaterThan(b.total), `${a.total} > ${b.total}`);
  a.items().forEach(([name, x], i) =>
    ok(!x.greaterThan(b.items()[i][1]), `${name}: ${x} > ${b.items()[i][1]}`)
  );
}

Deno.test("total is the sum of parts, all in cents and not negative", () =>
  forExamples(EXAMPLES, drawRequest, (r) => {
    const b = priceQuote(r);
    assertSame(b.total, sum(b.parts().map(([, value]) => value)));
    for (const [, value] of b.items()) {
      ok(!value.lessThan(Decimal.ZERO));
      strictEqual(value.scale, 2);
      ok(value.equals(money(value)));
    }
  }));

Deno.test("total never decreases when grams grow", () =>
  forExamples(EXAMPLES, (random) => ({ ...drawRequest(random), more: drawGrams(random) }), (r) => {
    const [low, high] = [r.grams, r.more].sort((x, y) => x.compare(y));
    assertNotCheaper(priceQuote({ ...r, grams: low }), priceQuote({ ...r, grams: high }));
  }));

Deno.test("total never decreases when quantity grows", () =>
  forExamples(
    EXAMPLES,
    (random) => ({ ...drawRequest(random), more: random.int(QUANTITY_MIN, QUANTITY_MAX) }),
    (r) => {
      const [low, high] = [r.quantity, r.more].sort((x, y) => x - y);
      assertNotCheaper(priceQuote({ ...r, quantity: low }), priceQuote({ ...r, quantity: high }));
    },
  ));

Deno.test("one more unit never costs less", () =>
  forExamples(EXAMPLES, drawRequest, (r) => {
    const quantity = r.quantity === QUANTITY_MAX ? r.quantity - 1 : r.quantity;
    const a = priceQuote({ ...r, quantity });
    const b = priceQuote({ ...r, quantity: quantity + 1 });
    ok(!a.total.greaterThan(b.total));
  }));
