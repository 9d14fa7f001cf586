/**
 * The handler's answers to bad requests (no database: every request here fails
 * validation before storage is touched, or finds no SUPABASE_DB_URL).
 *
 * Run with `deno test --allow-env --allow-net` (the tests unset SUPABASE_DB_URL).
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { Decimal } from "./decimal.ts";
import { MAX_BODY_BYTES } from "./index.ts";
import { DELIVERY_SPEEDS, MATERIALS, QUALITIES } from "./pricing.ts";
import { DATABASE_URL_ENV } from "./storage.ts";
import {
  call,
  forExamples,
  Literal,
  post,
  type Random,
  REMOVE,
  RUNBOOK,
  withFields,
} from "./test_support.ts";
import { FIELDS, InvalidQuoteRequest, parseQuoteRequest } from "./validation.ts";

Deno.env.delete(DATABASE_URL_ENV); // no database in these tests

const ALLOWED: Record<string, string[]> = {
  material: [...MATERIALS.keys()],
  quality: [...QUALITIES.keys()],
  delivery_speed: [...DELIVERY_SPEEDS.keys()],
};
const encoder = new TextEncoder();

// deno-lint-ignore no-explicit-any
type Json = any;

async function assert400(response: Response, field: string): Promise<Json> {
  const text = await response.text();
  strictEqual(response.status, 400, text);
  ok(response.headers.get("content-type")?.startsWith("application/json"));
  const data = JSON.parse(text);
  strictEqual(data.field, field, text);
  ok(data.error.includes(field), text);
  const { errors, ...first } = data;
  deepStrictEqual(errors[0], first);
  if (field in ALLOWED) deepStrictEqual(data.allowed, ALLOWED[field]);
  return data;
}

// --- the body as a whole -------------------------------------------------------------

const NOT_JSON: Array<[string, Uint8Array]> = [
  ["empty", new Uint8Array()],
  ["blank", encoder.encode("   \n")],
  ["unquoted key", encoder.encode("{grams: 100}")],
  ["cut short", encoder.encode('{"grams": 100,')],
  ["not UTF-8", new Uint8Array([0xff, 0xfe, 0x00, ...encoder.encode("garbage")])],
  ["single quotes", encoder.encode("'single quotes'")],
  ["nested 10000 deep", encoder.encode("[".repeat(10_000) + "]".repeat(10_000))],
];
for (const [name, body] of NOT_JSON) {
  Deno.test(`body that is not JSON is 400: ${name}`, async () => {
    const data = await assert400(await call(body), "body");
    ok(data.error.includes("JSON object"), data.error);
  });
}

for (
  const [text, kind] of [
    ["[]", "an array"],
    ['"hello"', "a string"],
    ["42", "a number"],
    ["null", "null"],
    ["true", "a boolean"],
  ]
) {
  Deno.test(`JSON that is not an object is 400: ${text}`, async () => {
    const data = await assert400(await call(text), "body");
    ok(data.error.includes(`not ${kind}`), data.error);
  });
}

Deno.test("byte order mark is tolerated and content type is not required", async () => {
  // A valid body gets as far as storage, which is not configured here.
  const body = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode(JSON.stringify(RUNBOOK))]);
  const response = await call(body, "POST", "/", {});
  await response.body?.cancel();
  strictEqual(response.status, 503);
});

Deno.test("body larger than the limit is 413", async () => {
  const response = await call(JSON.stringify({ ...RUNBOOK, padding: "x".repeat(MAX_BODY_BYTES) }));
  strictEqual(response.status, 413);
  strictEqual((await response.json()).field, "body");
});

// --- fields --------------------------------------------------------------------------

for (const field of FIELDS) {
  Deno.test(`missing field is 400 naming it: ${field}`, async () => {
    const data = await assert400(await call(withFields({ [field]: REMOVE })), field);
    ok(data.error.includes("required"));
  });
}

Deno.test("every missing field is listed", async () => {
  const data = await assert400(await post({}), "grams");
  deepStrictEqual(data.errors.map((e: Json) => e.field), [...FIELDS]);
});

Deno.test("unknown field is 400 naming it", async () => {
  const data = await assert400(await post({ ...RUNBOOK, qty: 2 }), "qty");
  deepStrictEqual(data.allowed, [...FIELDS]);
  ok(data.error.includes("unknown field"));
});

Deno.test("duplicate field is 400", async () => {
  const text = JSON.stringify(RUNBOOK).slice(0, -1) + ', "grams": 5}';
  const data = await assert400(await call(text), "grams");
  ok(data.error.includes("more than once"));
});

Deno.test("all problems are listed, first one on top", async () => {
  const data = await assert400(
    await post({
      grams: -1,
      material: "WOOD",
      quality: "standard",
      quantity: 1.5,
      delivery_speed: "standard",
      x: 1,
    }),
    "grams",
  );
  deepStrictEqual(data.errors.map((e: Json) => e.field), ["grams", "material", "quantity", "x"]);
});

for (
  const value of [
    "-1",
    "0",
    "-0",
    "0.004",
    "50000.01",
    "50001",
    "1e400",
    "-1e400",
    "1e99999999999999999999999",
    "NaN",
    "Infinity",
    "-Infinity",
    "true",
    "false",
    '"100"',
    '""',
    "null",
    "[100]",
    '{"value": 100}',
  ]
) {
  Deno.test(`bad grams is 400: ${value}`, async () => {
    const data = await assert400(await call(withFields({ grams: new Literal(value) })), "grams");
    ok(data.error.includes("between 0.01 and 50000"), data.error);
  });
}

for (
  const value of [
    "0",
    "-1",
    "1001",
    "2.5",
    "0.999",
    "1e400",
    "NaN",
    "Infinity",
    "true",
    '"1"',
    "null",
    "[1]",
  ]
) {
  Deno.test(`bad quantity is 400: ${value}`, async () => {
    const data = await assert400(
      await call(withFields({ quantity: new Literal(value) })),
      "quantity",
    );
    ok(data.error.includes("whole number between 1 and 1000"), data.error);
  });
}

for (const field of ["material", "quality", "delivery_speed"]) {
  for (const value of ['"nope"', '""', "5", "null", "true", '["PLA_STANDARD"]']) {
    Deno.test(`bad choice is 400 listing allowed values: ${field}=${value}`, async () => {
      const data = await assert400(await call(withFields({ [field]: new Literal(value) })), field);
      ok(data.error.includes(ALLOWED[field].join(", ")), data.error);
    });
  }
}

Deno.test("wrong case gets a hint", async () => {
  const data = await assert400(await post({ ...RUNBOOK, material: "pla_standard" }), "material");
  ok(data.error.includes("did you mean PLA_STANDARD?"), data.error);
});

Deno.test("long values are shortened in messages", async () => {
  const data = await assert400(
    await post({ ...RUNBOOK, material: "W".repeat(5000), ["z".repeat(5000)]: 1 }),
    "material",
  );
  ok(data.error.length < 400);
  ok(data.errors[1].field.length <= 40);
});

for (
  const [grams, quantity, roundedGrams] of [
    ["100.0", "1.0", "100.00"],
    ["1e2", "1E0", "100.00"],
    ["0.005", "1000", "0.01"],
    ["50000.004", "1", "50000.00"],
  ]
) {
  Deno.test(`numbers are exact decimals: grams ${grams}, quantity ${quantity}`, () => {
    const request = parseQuoteRequest(
      encoder.encode(withFields({ grams: new Literal(grams), quantity: new Literal(quantity) })),
    );
    strictEqual(request.grams.toString(), roundedGrams);
    strictEqual(request.quantity, Number(quantity));
  });
}

Deno.test("runbook example parses", () => {
  const request = parseQuoteRequest(encoder.encode(JSON.stringify(RUNBOOK)));
  ok(request.grams.equals(Decimal.of("100.00")));
  deepStrictEqual({ ...request, grams: request.grams.toString() }, {
    grams: "100.00",
    material: "PLA_STANDARD",
    quality: "standard",
    quantity: 1,
    deliverySpeed: "standard",
  });
});

Deno.test("validation error lists are never empty", () => {
  throws(
    () => parseQuoteRequest(encoder.encode("{}")),
    (error: unknown) => error instanceof InvalidQuoteRequest && error.errors.length > 0,
  );
});

for (const text of [String.raw`"\ud800"`, String.raw`"PLA\udfff"`]) {
  Deno.test(`lone surrogates in strings are a 400, not a crash: ${text}`, async () => {
    const body = withFields({ material: new Literal(text) }).slice(0, -1) + `, ${text}: 1}`;
    const data = await assert400(await call(body), "material");
    ok(data.errors.at(-1).error.startsWith("unknown field"));
  });
}

// --- fuzzing: nothing a client sends gets a 500 -------------------------------------------

// JSON's special characters, non-ASCII, a lone surrogate, an emoji.
const ALPHABET = [
  "a",
  "Z",
  "0",
  "9",
  " ",
  "_",
  "-",
  ".",
  '"',
  "\\",
  "/",
  "\n",
  "\t",
  "\x00",
  "é",
  "…",
  "€",
  "\u200b",
  "\ud800",
  "\u{1f600}",
];
const SAMPLES = [
  ...MATERIALS.keys(),
  ...QUALITIES.keys(),
  ...DELIVERY_SPEEDS.keys(),
  "100",
  "1",
  "0.5",
  "1e308",
  "-1",
  "50000",
];

function text(random: Random, max: number): string {
  return Array.from({ length: random.int(0, max) }, () => random.pick(ALPHABET)).join("");
}

/** Raw JSON text of a random value (NaN and Infinity included, as encoders emit them). */
function jsonValue(random: Random, depth = 0): string {
  const kind = random.int(0, depth >= 2 ? 4 : 6);
  if (kind === 0) return "null";
  if (kind === 1) return random.pick(["true", "false"]);
  if (kind === 2) {
    return random.pick([
      String(random.int(-1e6, 1e6)),
      String(random.next() * 1e4),
      "NaN",
      "-Infinity",
      "1e999",
    ]);
  }
  if (kind === 3) return JSON.stringify(text(random, 10));
  if (kind === 4) {
    return random.pick(SAMPLES.map((s) => (/^[A-Za-z_]/.test(s) ? JSON.stringify(s) : s)));
  }
  if (kind === 5) {
    return "[" + Array.from({ length: random.int(0, 3) }, () =>
      jsonValue(random, depth + 1)).join(", ") +
      "]";
  }
  return object(random, Array.from({ length: random.int(0, 3) }, () => text(random, 5)), depth + 1);
}

function object(random: Random, keys: string[], depth: number): string {
  return "{" + keys.map((k) => `${JSON.stringify(k)}: ${jsonValue(random, depth)}`).join(", ") +
    "}";
}

function body(random: Random): string | Uint8Array {
  const kind = random.int(0, 3);
  if (kind === 0) return object(random, FIELDS.filter(() => random.next() < 0.8), 0);
  if (kind === 1) {
    return object(
      random,
      Array.from({ length: random.int(0, 6) }, () => random.pick([...FIELDS, "extra"])),
      0,
    );
  }
  if (kind === 2) return jsonValue(random);
  return Uint8Array.from({ length: random.int(0, 64) }, () => random.int(0, 255));
}

Deno.test("nothing a client sends gets a 500", () =>
  forExamples(200, body, async (sent) => {
    const response = await call(sent);
    const data = await response.json();
    ok([400, 413, 503].includes(response.status), JSON.stringify(data));
    strictEqual(typeof data.error, "string");
  }));
