/**
 * Turn a request body into a `QuoteRequest`, or say exactly what is wrong with it.
 *
 * Rules (documented in README.md):
 *
 * - The body is UTF-8 JSON (a BOM is tolerated) holding one object with exactly the
 *   fields grams, material, quality, quantity, delivery_speed. Missing, duplicated and
 *   unknown fields are errors (an unknown field is usually a typo, e.g. "qty").
 * - JSON has a single number type, so numbers are read as exact decimals: `2.0` is a
 *   valid quantity, `2.5` is not. Strings, booleans and null are never numbers.
 *   NaN / Infinity (which JSON does not allow, but many encoders emit) are rejected
 *   with the field named.
 * - grams is rounded to 0.01 g (half up), then must lie in [GRAMS_MIN, GRAMS_MAX].
 * - material, quality and delivery_speed must match a key of the price table
 *   exactly (case-sensitive); the error lists the allowed values.
 */

import { Decimal } from "./decimal.ts";
import {
  JsonNumber,
  JsonObject,
  JsonSyntaxError,
  JsonTooDeep,
  type JsonValue,
  parseJson,
} from "./json_body.ts";
import {
  DELIVERY_SPEEDS,
  GRAMS_MAX,
  GRAMS_MIN,
  MATERIALS,
  QUALITIES,
  QUANTITY_MAX,
  QUANTITY_MIN,
  type QuoteRequest,
} from "./pricing.ts";

export const FIELDS = ["grams", "material", "quality", "quantity", "delivery_speed"] as const;
export const BODY = "body"; // the `field` of an error about the body as a whole
const SHOWN = 40; // characters of an offending value quoted back in an error

export interface FieldErrorJson {
  error: string;
  field: string;
  allowed?: string[];
}

export class FieldError {
  constructor(
    readonly field: string,
    readonly message: string,
    readonly allowed: readonly string[] | null = null,
  ) {}

  asJson(): FieldErrorJson {
    const out: FieldErrorJson = { error: this.message, field: this.field };
    if (this.allowed !== null) out.allowed = [...this.allowed];
    return out;
  }
}

/** The body cannot be quoted; `errors` lists every problem found, most basic first. */
export class InvalidQuoteRequest extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors[0].message);
  }

  get first(): FieldError {
    return this.errors[0];
  }
}

function shorten(text: string): string {
  const chars = Array.from(text);
  return chars.length <= SHOWN ? text : chars.slice(0, SHOWN - 1).join("") + "…";
}

/** A JSON string as the original rules wrote it (non-ASCII kept, control characters escaped). */
function quoted(text: string): string {
  // deno-lint-ignore no-control-regex -- JSON escapes exactly these characters
  const escaped = text.replace(/[\x00-\x1f\\"]/g, (char) => {
    const named: Record<string, string> = {
      '"': '\\"',
      "\\": "\\\\",
      "\n": "\\n",
      "\r": "\\r",
      "\t": "\\t",
      "\b": "\\b",
      "\f": "\\f",
    };
    return named[char] ?? "\\u" + char.charCodeAt(0).toString(16).padStart(4, "0");
  });
  return `"${escaped}"`;
}

/** A value as text; numbers nested in arrays/objects are written as strings, as before. */
function dumps(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "string") return quoted(value);
  if (value instanceof JsonNumber) return quoted(value.toString());
  if (Array.isArray(value)) return "[" + value.map(dumps).join(", ") + "]";
  return "{" + [...value].map(([k, v]) => `${quoted(k)}: ${dumps(v)}`).join(", ") + "}";
}

/** A short rendering of an offending JSON value for an error message. */
function shown(value: JsonValue): string {
  return shorten(value instanceof JsonNumber ? value.toString() : dumps(value));
}

function jsonType(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return "a boolean";
  if (typeof value === "string") return "a string";
  if (Array.isArray(value)) return "an array";
  if (value instanceof JsonObject) return "an object";
  return "a number";
}

function isAsciiWhitespace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** The body as a JSON object; throws InvalidQuoteRequest (field "body") otherwise. */
export function decodeBody(body: Uint8Array): JsonObject {
  const expected = "send a JSON object with " + FIELDS.join(", ");
  const fail = (message: string): never => {
    throw new InvalidQuoteRequest([new FieldError(BODY, message)]);
  };
  if (body.every(isAsciiWhitespace)) fail(`request body is empty: ${expected}`);
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body); // drops one BOM
  } catch {
    fail(`request body is not UTF-8 text: ${expected}`);
  }
  let value: JsonValue = null;
  try {
    value = parseJson(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      fail(`request body is not valid JSON (${error.message}): ${expected}`);
    }
    if (error instanceof JsonTooDeep) fail(`request body is nested too deeply: ${expected}`);
    throw error;
  }
  if (!(value instanceof JsonObject)) {
    return fail(`request body must be a JSON object, not ${jsonType(value)}: ${expected}`);
  }
  return value;
}

/** `value` as a finite exact number, or the error naming `field` and its requirement. */
function asNumber(field: string, value: JsonValue): Decimal | "huge" | "tiny" | FieldError {
  const wanted = `${field} must be ${requirement(field)}`;
  if (!(value instanceof JsonNumber)) {
    return new FieldError(field, `${wanted}, not ${jsonType(value)} (${shown(value)})`);
  }
  if (!value.representable()) return new FieldError(field, `${wanted}; got ${shown(value)}`);
  if (!value.isFinite()) {
    return new FieldError(field, `${wanted}; got ${shown(value)}, which is not a finite number`);
  }
  return value.toDecimal();
}

function grams(value: JsonValue): Decimal | FieldError {
  const number = asNumber("grams", value);
  if (number instanceof FieldError) return number;
  const outOfRange = new FieldError(
    "grams",
    `grams must be ${requirement("grams")}; got ${shown(value)}`,
  );
  if (typeof number === "string") return outOfRange; // beyond 10^±40: never in range
  const rounded = number.quantize(2);
  return rounded.lessThan(GRAMS_MIN) || rounded.greaterThan(GRAMS_MAX) ? outOfRange : rounded;
}

function quantity(value: JsonValue): number | FieldError {
  const number = asNumber("quantity", value);
  if (number instanceof FieldError) return number;
  if (
    typeof number === "string" ||
    number.lessThan(Decimal.of(QUANTITY_MIN)) ||
    number.greaterThan(Decimal.of(QUANTITY_MAX)) ||
    !number.isInteger()
  ) {
    return new FieldError(
      "quantity",
      `quantity must be ${requirement("quantity")}; got ${shown(value)}`,
    );
  }
  return number.toInteger();
}

function choice(field: string, value: JsonValue): string | FieldError {
  const options = allowed(field) ?? [];
  const listing = options.join(", ");
  if (typeof value !== "string") {
    return new FieldError(
      field,
      `${field} must be one of ${listing}; got ${jsonType(value)} (${shown(value)})`,
      options,
    );
  }
  if (options.includes(value)) return value;
  const near = options.find((option) => option.toLowerCase() === value.trim().toLowerCase());
  const hint = near === undefined ? "" : ` (did you mean ${near}? values are case-sensitive)`;
  return new FieldError(
    field,
    `${field} must be one of ${listing}; got ${shown(value)}${hint}`,
    options,
  );
}

/** Validate a request body completely; throws InvalidQuoteRequest listing every problem. */
export function parseQuoteRequest(body: Uint8Array): QuoteRequest {
  const data = decodeBody(body);
  const errors: FieldError[] = data.duplicates.map(
    (field) => new FieldError(shorten(field), `field ${shown(field)} appears more than once`),
  );
  for (const field of FIELDS) {
    if (!data.has(field)) {
      errors.push(
        new FieldError(field, `${field} is required: ${requirement(field)}`, allowed(field)),
      );
    }
  }
  const read = <T>(field: string, check: (value: JsonValue) => T): T | undefined =>
    data.has(field) ? check(data.get(field) as JsonValue) : undefined;
  const g = read("grams", grams);
  const material = read("material", (v) => choice("material", v));
  const quality = read("quality", (v) => choice("quality", v));
  const q = read("quantity", quantity);
  const speed = read("delivery_speed", (v) => choice("delivery_speed", v));
  for (const result of [g, material, quality, q, speed]) {
    if (result instanceof FieldError) errors.push(result);
  }
  for (const field of data.keys()) {
    if (!(FIELDS as readonly string[]).includes(field)) {
      errors.push(
        new FieldError(
          shorten(field),
          `unknown field ${shown(field)}; the fields are ${FIELDS.join(", ")}`,
          FIELDS,
        ),
      );
    }
  }
  if (
    errors.length > 0 ||
    !(g instanceof Decimal) ||
    typeof material !== "string" ||
    typeof quality !== "string" ||
    typeof q !== "number" ||
    typeof speed !== "string"
  ) {
    throw new InvalidQuoteRequest(
      errors.length > 0 ? errors : [new FieldError(BODY, "request body is invalid")],
    );
  }
  return { grams: g, material, quality, quantity: q, deliverySpeed: speed };
}

function allowed(field: string): string[] | null {
  const table = { material: MATERIALS, quality: QUALITIES, delivery_speed: DELIVERY_SPEEDS }[field];
  return table === undefined ? null : [...table.keys()];
}

function requirement(field: string): string {
  if (field === "grams") return `a number (grams per unit) between ${GRAMS_MIN} and ${GRAMS_MAX}`;
  if (field === "quantity") {
    return `a whole number between ${QUANTITY_MIN} and ${QUANTITY_MAX}`;
  }
  return "one of " + (allowed(field) ?? []).join(", ");
}
