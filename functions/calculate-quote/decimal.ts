/**
 * Exact decimal numbers for money: an integer count of units of 10^-scale.
 *
 * JavaScript numbers are binary floats (0.1 + 0.2 !== 0.3), so every amount is
 * a BigInt of units instead; multiplication and addition are exact and
 * rounding happens only where `quantize` is called.
 */

const TEN = 10n;

function pow10(n: number): bigint {
  return TEN ** BigInt(n);
}

export class Decimal {
  /** value = units × 10^-scale */
  constructor(readonly units: bigint, readonly scale: number) {
    if (!Number.isInteger(scale) || scale < 0) {
      throw new RangeError(`scale must be a whole number >= 0, not ${scale}`);
    }
  }

  /** A decimal literal such as "0.10", "-3" or "50000". */
  static of(text: string | number): Decimal {
    const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(text));
    if (match === null) throw new RangeError(`not a decimal literal: ${text}`);
    const [, sign, whole, fraction = ""] = match;
    const units = BigInt(whole + fraction);
    return new Decimal(sign === "-" ? -units : units, fraction.length);
  }

  static readonly ZERO = new Decimal(0n, 0);

  /** `units` expressed at a (larger or equal) `scale`. */
  private at(scale: number): bigint {
    return this.units * pow10(scale - this.scale);
  }

  plus(other: Decimal): Decimal {
    const scale = Math.max(this.scale, other.scale);
    return new Decimal(this.at(scale) + other.at(scale), scale);
  }

  minus(other: Decimal): Decimal {
    const scale = Math.max(this.scale, other.scale);
    return new Decimal(this.at(scale) - other.at(scale), scale);
  }

  times(other: Decimal | number): Decimal {
    const factor = typeof other === "number" ? Decimal.of(other) : other;
    return new Decimal(this.units * factor.units, this.scale + factor.scale);
  }

  compare(other: Decimal): -1 | 0 | 1 {
    const scale = Math.max(this.scale, other.scale);
    const a = this.at(scale);
    const b = other.at(scale);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  equals(other: Decimal): boolean {
    return this.compare(other) === 0;
  }

  lessThan(other: Decimal): boolean {
    return this.compare(other) < 0;
  }

  greaterThan(other: Decimal): boolean {
    return this.compare(other) > 0;
  }

  isInteger(): boolean {
    return this.units % pow10(this.scale) === 0n;
  }

  /** Rounded to `scale` places, ties away from zero (Python's ROUND_HALF_UP). */
  quantize(scale: number): Decimal {
    if (scale >= this.scale) return new Decimal(this.at(scale), scale);
    const divisor = pow10(this.scale - scale);
    const negative = this.units < 0n;
    const magnitude = negative ? -this.units : this.units;
    let quotient = magnitude / divisor;
    if ((magnitude % divisor) * 2n >= divisor) quotient += 1n;
    return new Decimal(negative ? -quotient : quotient, scale);
  }

  /** The value as a whole number (it must be one, and a safe JS integer). */
  toInteger(): number {
    if (!this.isInteger()) throw new RangeError(`${this.toString()} is not a whole number`);
    return Number(this.units / pow10(this.scale));
  }

  toJSON(): string {
    return this.toString();
  }

  /** Plain notation with exactly `scale` places, e.g. "24.00". */
  toString(): string {
    const negative = this.units < 0n;
    const digits = (negative ? -this.units : this.units).toString().padStart(this.scale + 1, "0");
    const whole = digits.slice(0, digits.length - this.scale);
    const fraction = digits.slice(digits.length - this.scale);
    return (negative ? "-" : "") + whole + (this.scale > 0 ? "." + fraction : "");
  }
}

export function max(a: Decimal, b: Decimal): Decimal {
  return a.compare(b) >= 0 ? a : b;
}

export function sum(values: Iterable<Decimal>): Decimal {
  let total = Decimal.ZERO;
  for (const value of values) total = total.plus(value);
  return total;
}
