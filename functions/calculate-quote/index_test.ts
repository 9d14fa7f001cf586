/**
 * The exported handler: methods, paths, storage failures and the success body, all
 * without a database (no SUPABASE_DB_URL, a closed port, or a URL that is not one).
 *
 * Run with `deno test --allow-env --allow-net`.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Decimal } from "./decimal.ts";
import * as entrypoint from "./index.ts";
import { handler, renderQuote } from "./index.ts";
import { priceQuote } from "./pricing.ts";
import { DATABASE_URL_ENV } from "./storage.ts";
import { call, post, RUNBOOK } from "./test_support.ts";

function withDatabaseUrl(url: string | null, test: () => Promise<void>): () => Promise<void> {
  return async () => {
    const before = Deno.env.get(DATABASE_URL_ENV);
    if (url === null) Deno.env.delete(DATABASE_URL_ENV);
    else Deno.env.set(DATABASE_URL_ENV, url);
    try {
      await test();
    } finally {
      if (before === undefined) Deno.env.delete(DATABASE_URL_ENV);
      else Deno.env.set(DATABASE_URL_ENV, before);
    }
  };
}

for (const method of ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
  Deno.test(`other methods are 405 with an Allow header: ${method}`, async () => {
    const response = await call(null, method);
    strictEqual(response.status, 405);
    strictEqual(response.headers.get("allow"), "POST");
    ok(response.headers.get("content-type")?.startsWith("application/json"));
    const data = await response.json();
    ok(data.error.includes("POST"));
  });
}

Deno.test("any path is the function", async () => {
  const response = await call("[]", "POST", "/anything/else?x=1");
  strictEqual(response.status, 400);
  strictEqual((await response.json()).field, "body");
});

Deno.test(
  "valid request without database URL is 503 JSON",
  withDatabaseUrl(null, async () => {
    const response = await post(RUNBOOK);
    strictEqual(response.status, 503);
    strictEqual(response.headers.get("retry-after"), "5");
    ok((await response.json()).error.includes("SUPABASE_DB_URL"));
  }),
);

Deno.test("unreachable database is 503 JSON", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  await withDatabaseUrl(`postgresql://postgres@127.0.0.1:${port}/postgres`, async () => {
    const response = await post(RUNBOOK);
    strictEqual(response.status, 503);
    ok(response.headers.get("retry-after"));
    deepStrictEqual(await response.json(), {
      error: "quote storage is unavailable; please try again shortly",
    });
  })();
});

Deno.test(
  "garbage database URL is 503",
  withDatabaseUrl("not a url = = =", async () => {
    const response = await post(RUNBOOK);
    await response.body?.cancel();
    strictEqual(response.status, 503);
  }),
);

Deno.test("success body renders money with two decimals", () => {
  const stored = {
    id: crypto.randomUUID(),
    createdAt: "2026-01-07T12:00:00.123456Z",
    expiresAt: "2026-01-14T12:00:00.123456Z",
  };
  const breakdown = priceQuote({
    grams: Decimal.of("100.00"),
    material: "PLA_STANDARD",
    quality: "standard",
    quantity: 1,
    deliverySpeed: "standard",
  });
  const text = renderQuote(stored, breakdown);
  ok(text.includes('"platform_fee": 5.00'), text);
  ok(text.includes('"total": 24.00'), text);
  const data = JSON.parse(text);
  strictEqual(data.quote_id, stored.id);
  strictEqual(data.expires_at, "2026-01-14T12:00:00.123456Z");
  strictEqual(data.currency, "CAD");
  strictEqual(data.breakdown.total, 24);
  deepStrictEqual(Object.keys(data.breakdown), [
    "platform_fee",
    "bed_rental",
    "filament_cost",
    "quality_surcharge",
    "delivery_fee",
    "total",
  ]);
});

Deno.test("the module exports the handler and serves nothing when imported", () => {
  strictEqual(typeof handler, "function");
  strictEqual(entrypoint.handler, handler);
  // import.meta.main is false for an imported module, so Deno.serve was not called:
  // a server left listening would fail this test with Deno's resource sanitizer.
});
