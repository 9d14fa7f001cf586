/**
 * Edge function `calculate-quote`: POST a quote request, get a stored, priced quote back.
 *
 * Every path is treated the same (the host serves the function at
 * /functions/v1/calculate-quote and has already checked the Authorization header).
 * All input is validated and priced before the database is touched. No input can
 * produce a 500: bad input is a 400/405/413 JSON error, a database that cannot be
 * reached (or no SUPABASE_DB_URL) is a 503 JSON error. See README.md.
 *
 * `handler` is exported so tests call it directly; the server starts only when this
 * file is the program (`deno run index.ts`, or Supabase's runtime).
 */

import { type Decimal } from "./decimal.ts";
import { type Breakdown, CURRENCY, priceQuote } from "./pricing.ts";
import {
  databaseUrl,
  StorageNotConfigured,
  StorageUnavailable,
  type StoredQuote,
  storeQuote,
} from "./storage.ts";
import { BODY, InvalidQuoteRequest, parseQuoteRequest } from "./validation.ts";

export const MAX_BODY_BYTES = 64 * 1024;
export const RETRY_AFTER_SECONDS = 5;

/** A JSON number with exactly two decimals, e.g. `24.00`. */
export function renderMoney(amount: Decimal): string {
  return amount.quantize(2).toString();
}

/** The breakdown object as JSON text, money rendered with two decimals. */
export function renderBreakdown(breakdown: Breakdown): string {
  const parts = breakdown.items().map(([name, value]) =>
    `${JSON.stringify(name)}: ${renderMoney(value)}`
  );
  return "{" + parts.join(", ") + "}";
}

/** The 200 response body. */
export function renderQuote(stored: StoredQuote, breakdown: Breakdown): string {
  return (
    "{" +
    `"quote_id": ${JSON.stringify(stored.id)}, ` +
    `"expires_at": ${JSON.stringify(stored.expiresAt)}, ` +
    `"currency": ${JSON.stringify(CURRENCY)}, ` +
    `"breakdown": ${renderBreakdown(breakdown)}` +
    "}"
  );
}

function jsonResponse(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers },
  });
}

function errorResponse(
  status: number,
  message: string,
  field: string | null = null,
  headers: Record<string, string> = {},
): Response {
  const content: Record<string, string> = { error: message };
  if (field !== null) content.field = field;
  return jsonResponse(status, JSON.stringify(content), headers);
}

/** The body, or the error response when it is too large. */
async function readBody(request: Request): Promise<Uint8Array | Response> {
  const tooLarge = () =>
    errorResponse(413, `request body is larger than ${MAX_BODY_BYTES} bytes`, BODY);
  const declared = request.headers.get("content-length") ?? "";
  if (/^\d+$/.test(declared) && Number(declared) > MAX_BODY_BYTES) return tooLarge();
  if (request.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
  } catch {
    return errorResponse(400, "request body could not be read (the client went away?)", BODY);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

async function handle(request: Request): Promise<Response> {
  if (request.method !== "POST") {
    return errorResponse(
      405,
      `method ${request.method} is not allowed: POST a JSON quote request`,
      null,
      { Allow: "POST" },
    );
  }
  const body = await readBody(request);
  if (body instanceof Response) return body;
  let quoteRequest;
  try {
    quoteRequest = parseQuoteRequest(body);
  } catch (error) {
    if (!(error instanceof InvalidQuoteRequest)) throw error;
    const content = { ...error.first.asJson(), errors: error.errors.map((e) => e.asJson()) };
    return jsonResponse(400, JSON.stringify(content));
  }

  const breakdown = priceQuote(quoteRequest); // validated input is always in the table
  const retry = { "Retry-After": String(RETRY_AFTER_SECONDS) };
  let stored: StoredQuote;
  try {
    stored = await storeQuote(databaseUrl(), quoteRequest, breakdown, renderBreakdown(breakdown));
  } catch (error) {
    if (error instanceof StorageNotConfigured) {
      console.error(`calculate-quote: ${error.message}`);
      return errorResponse(
        503,
        "quote storage is not configured (SUPABASE_DB_URL is not set)",
        null,
        retry,
      );
    }
    if (error instanceof StorageUnavailable) {
      console.warn(`calculate-quote: could not store the quote: ${error.message}`);
      return errorResponse(
        503,
        "quote storage is unavailable; please try again shortly",
        null,
        retry,
      );
    }
    throw error;
  }
  return jsonResponse(200, renderQuote(stored, breakdown));
}

/** The function: a Request in, a Response out (what `Deno.serve` calls). */
export async function handler(request: Request): Promise<Response> {
  try {
    return await handle(request);
  } catch (error) {
    console.error("calculate-quote: unexpected error", error);
    return errorResponse(500, "internal error while preparing the quote");
  }
}

if (import.meta.main) {
  Deno.serve(handler);
}
