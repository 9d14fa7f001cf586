/**
 * A JSON reader that keeps what `JSON.parse` throws away and validation needs:
 *
 * - numbers as their exact decimal literal (JSON.parse turns 50000.004 into a
 *   binary float and 1e400 into Infinity);
 * - keys seen more than once in an object (JSON.parse keeps the last silently);
 * - NaN / Infinity / -Infinity, which JSON does not allow but many encoders emit,
 *   so the error can name the field instead of the whole body;
 * - a nesting limit, and syntax errors with their line and column.
 */

import { Decimal } from "./decimal.ts";

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** An object that keeps key order (a Map: no prototype keys, no reordering of "1") and
 * the keys that appeared more than once (the last value wins). */
export class JsonObject extends Map<string, JsonValue> {
  duplicates: string[] = [];
}

// Python's decimal module refuses exponents beyond this; the original rules
// treated such literals as unrepresentable numbers, kept as text.
const MAX_EXPONENT = 999_999_999_999_999_999n;
// Beyond 10^±40 a number is far outside every limit here; no Decimal is built.
const MAGNITUDE_LIMIT = 40n;

/** A JSON number literal, read exactly. */
export class JsonNumber {
  private constructor(
    readonly text: string,
    readonly negative: boolean,
    readonly special: "" | "NaN" | "Infinity",
    readonly digits: string, // the coefficient, no leading zeros ("0" for zero)
    readonly exponent: bigint, // value = ±digits × 10^exponent
  ) {}

  static special(text: "NaN" | "Infinity" | "-Infinity"): JsonNumber {
    return new JsonNumber(text, text.startsWith("-"), text === "NaN" ? "NaN" : "Infinity", "0", 0n);
  }

  static literal(text: string): JsonNumber {
    const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/.exec(text);
    if (match === null) throw new SyntaxError(`not a JSON number: ${text}`);
    const [, sign, whole, fraction = "", exp = "0"] = match;
    const digits = (whole + fraction).replace(/^0+(?=\d)/, "");
    return new JsonNumber(text, sign === "-", "", digits, BigInt(exp) - BigInt(fraction.length));
  }

  isFinite(): boolean {
    return this.special === "" && this.representable();
  }

  /** Whether the decimal module of the original rules could hold it. */
  representable(): boolean {
    return this.special !== "" || (this.exponent <= MAX_EXPONENT && -this.exponent <= MAX_EXPONENT);
  }

  /** The order of magnitude of the leading digit (0 for 1..9), or null for zero. */
  private adjusted(): bigint | null {
    return this.digits === "0" ? null : this.exponent + BigInt(this.digits.length) - 1n;
  }

  /** The exact value, or "huge" / "tiny" for a finite value beyond 10^±40. */
  toDecimal(): Decimal | "huge" | "tiny" {
    if (!this.isFinite()) throw new RangeError(`${this.text} is not a finite number`);
    const adjusted = this.adjusted();
    if (adjusted === null) return Decimal.ZERO;
    if (adjusted > MAGNITUDE_LIMIT) return "huge";
    if (adjusted < -MAGNITUDE_LIMIT) return "tiny";
    const coefficient = BigInt(this.digits) * (this.negative ? -1n : 1n);
    return this.exponent >= 0n
      ? new Decimal(coefficient * 10n ** this.exponent, 0)
      : new Decimal(coefficient, Number(-this.exponent));
  }

  /** How the original rules printed the number (Python's str(Decimal)): 1e2 → "1E+2". */
  toString(): string {
    if (!this.representable()) return this.text;
    const sign = this.negative ? "-" : "";
    if (this.special !== "") return sign + this.special;
    const digits = this.digits;
    const leftDigits = this.exponent + BigInt(digits.length);
    const dotPlace = this.exponent <= 0n && leftDigits > -6n ? leftDigits : 1n;
    let whole: string;
    let fraction: string;
    if (dotPlace <= 0n) {
      whole = "0";
      fraction = "." + "0".repeat(Number(-dotPlace)) + digits;
    } else if (dotPlace >= BigInt(digits.length)) {
      whole = digits + "0".repeat(Number(dotPlace) - digits.length);
      fraction = "";
    } else {
      whole = digits.slice(0, Number(dotPlace));
      fraction = "." + digits.slice(Number(dotPlace));
    }
    const shift = leftDigits - dotPlace;
    const exponent = shift === 0n ? "" : "E" + (shift > 0n ? "+" : "") + shift.toString();
    return sign + whole + fraction + exponent;
  }
}

/** A syntax error, worded like Python's json module (which the function used before). */
export class JsonSyntaxError extends Error {
  constructor(readonly reason: string, readonly line: number, readonly column: number) {
    super(`${reason} at line ${line} column ${column}`);
  }
}

export class JsonTooDeep extends Error {}

const MAX_DEPTH = 500;
const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

class Reader {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): JsonValue {
    if (this.text.startsWith("\ufeff")) {
      this.fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
    }
    this.skip();
    const value = this.value(0);
    this.skip();
    if (this.pos !== this.text.length) this.fail("Extra data", this.pos);
    return value;
  }

  private fail(reason: string, at: number): never {
    const before = this.text.slice(0, at);
    const line = before.split("\n").length;
    const lineStart = before.lastIndexOf("\n") + 1;
    const column = Array.from(this.text.slice(lineStart, at)).length + 1;
    throw new JsonSyntaxError(reason, line, column);
  }

  private skip(): void {
    while (this.pos < this.text.length && WHITESPACE.has(this.text[this.pos])) this.pos++;
  }

  private value(depth: number): JsonValue {
    const char = this.text[this.pos];
    if (char === '"') return this.string();
    if (char === "{") return this.object(depth + 1);
    if (char === "[") return this.array(depth + 1);
    for (const [word, value] of WORDS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value();
      }
    }
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) this.fail("Expecting value", this.pos);
    this.pos += match[0].length;
    return JsonNumber.literal(match[0]);
  }

  private nest(depth: number): void {
    if (depth > MAX_DEPTH) throw new JsonTooDeep(`nested deeper than ${MAX_DEPTH} levels`);
  }

  private object(depth: number): JsonObject {
    this.nest(depth);
    const result = new JsonObject();
    this.pos++; // {
    this.skip();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return result;
    }
    for (;;) {
      if (this.text[this.pos] !== '"') {
        this.fail("Expecting property name enclosed in double quotes", this.pos);
      }
      const key = this.string();
      this.skip();
      if (this.text[this.pos] !== ":") this.fail("Expecting ':' delimiter", this.pos);
      this.pos++;
      this.skip();
      const value = this.value(depth);
      if (result.has(key) && !result.duplicates.includes(key)) result.duplicates.push(key);
      result.set(key, value);
      this.skip();
      const next = this.text[this.pos];
      this.pos++;
      if (next === "}") return result;
      if (next !== ",") this.fail("Expecting ',' delimiter", this.pos - 1);
      this.skip();
    }
  }

  private array(depth: number): JsonValue[] {
    this.nest(depth);
    const result: JsonValue[] = [];
    this.pos++; // [
    this.skip();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return result;
    }
    for (;;) {
      result.push(this.value(depth));
      this.skip();
      const next = this.text[this.pos];
      this.pos++;
      if (next === "]") return result;
      if (next !== ",") this.fail("Expecting ',' delimiter", this.pos - 1);
      this.skip();
    }
  }

  private string(): string {
    const start = this.pos;
    this.pos++; // "
    let out = "";
    for (;;) {
      if (this.pos >= this.text.length) this.fail("Unterminated string starting at", start);
      const char = this.text[this.pos];
      if (char === '"') {
        this.pos++;
        return out;
      }
      if (char < " ") this.fail("Invalid control character at", this.pos);
      if (char !== "\\") {
        out += char;
        this.pos++;
        continue;
      }
      const escape = this.text[this.pos + 1];
      if (escape === undefined) this.fail("Unterminated string starting at", start);
      if (escape === "u") {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("Invalid \\uXXXX escape", this.pos + 1);
        out += String.fromCharCode(parseInt(hex, 16)); // pairs join as UTF-16 does
        this.pos += 6;
        continue;
      }
      const decoded = ESCAPES[escape];
      if (decoded === undefined) this.fail("Invalid \\escape", this.pos);
      out += decoded;
      this.pos += 2;
    }
  }
}

const WORDS: ReadonlyArray<readonly [string, () => JsonValue]> = [
  ["null", () => null],
  ["true", () => true],
  ["false", () => false],
  ["NaN", () => JsonNumber.special("NaN")],
  ["Infinity", () => JsonNumber.special("Infinity")],
  ["-Infinity", () => JsonNumber.special("-Infinity")],
];

/** Parse JSON text; throws JsonSyntaxError or JsonTooDeep. */
export function parseJson(text: string): JsonValue {
  return new Reader(text).parse();
}
