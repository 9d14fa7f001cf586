/** Helpers shared by the function's tests (not a test file itself: no `test` suffix). */

import { handler } from "./index.ts";

export const RUNBOOK: Record<string, unknown> = {
  grams: 100,
  material: "PLA_STANDARD",
  quality: "standard",
  quantity: 1,
  delivery_speed: "standard",
};

/** Call the exported handler as Deno.serve would. */
export function call(
  body: Uint8Array | string | null = "",
  method = "POST",
  path = "/",
  headers: Record<string, string> = {},
): Promise<Response> {
  const init: RequestInit = { method, headers };
  if (body !== null && method !== "GET" && method !== "HEAD") {
    init.body = typeof body === "string" ? body : new Uint8Array(body);
  }
  return handler(new Request(`http://function${path}`, init));
}

export function post(data: unknown): Promise<Response> {
  return call(JSON.stringify(data), "POST", "/", { "Content-Type": "application/json" });
}

/** Raw JSON text for a field value (NaN, huge literals, …). */
export class Literal {
  constructor(readonly text: string) {}
}

export const REMOVE = Symbol("remove");

/** The runbook example with fields replaced; REMOVE drops a field. As raw JSON text so
 * NaN / Infinity / huge literals can be written. */
export function withFields(changes: Record<string, unknown>): string {
  const fields = new Map(Object.entries(RUNBOOK).map(([k, v]) => [k, JSON.stringify(v)]));
  for (const [key, value] of Object.entries(changes)) {
    if (value === REMOVE) fields.delete(key);
    else fields.set(key, value instanceof Literal ? value.text : JSON.stringify(value));
  }
  return "{" + [...fields].map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ") + "}";
}

/** A small seeded generator, so the randomised tests are the same on every run. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1) (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }
}

/** Run `check` on `count` seeded examples; a failure names the example. */
export function forExamples<T>(
  count: number,
  draw: (random: Random) => T,
  check: (example: T) => void | Promise<void>,
  seed = 1,
): Promise<void> {
  const random = new Random(seed);
  return (async () => {
    for (let i = 0; i < count; i++) {
      const example = draw(random);
      try {
        await check(example);
      } catch (error) {
        throw new Error(`example ${i} failed: ${describe(example)}`, { cause: error });
      }
    }
  })();
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? String(v) : v)) ??
      String(value);
  } catch {
    return String(value);
  }
}
