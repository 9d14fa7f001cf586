/**
 * Store a quote in the environment's `quotes` table.
 *
 * The database URL is read from SUPABASE_DB_URL at request time (hosted Supabase
 * gives it to every edge function). One short-lived connection per quote: edge
 * functions do not keep pools, and the URL may point at a transaction pooler, so
 * nothing is prepared. `created_at` and `expires_at` come from one `now()` (the
 * transaction's start), so expires_at is exactly created_at + QUOTE_VALIDITY.
 * PostgreSQL renders the timestamps, so they keep their microseconds (a JS Date
 * has milliseconds only).
 */

import postgres from "postgres";
import { type Breakdown, CURRENCY, QUOTE_VALIDITY, type QuoteRequest } from "./pricing.ts";

export const DATABASE_URL_ENV = "SUPABASE_DB_URL";
export const CONNECT_TIMEOUT_SECONDS = 3;
export const STORE_TIMEOUT_SECONDS = 8; // connect + insert, whatever hangs

// $6 is cast through text: postgres.js asks the server for the parameter types and
// would JSON-encode the (already JSON) breakdown text again for a jsonb parameter.
const UTC_MICROSECONDS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
const INSERT = `
INSERT INTO public.quotes
    (customer_id, grams, material, quality, quantity, delivery_speed,
     breakdown, total, currency, expires_at, created_at)
VALUES
    (NULL, $1::numeric, $2, $3, $4::integer, $5,
     $6::text::jsonb, $7::numeric, $8, now() + $9::interval, now())
RETURNING id::text AS id,
    to_char(created_at AT TIME ZONE 'UTC', ${UTC_MICROSECONDS}) AS created_at,
    to_char(expires_at AT TIME ZONE 'UTC', ${UTC_MICROSECONDS}) AS expires_at
`;

/** SUPABASE_DB_URL is not set (or the function may not read it). */
export class StorageNotConfigured extends Error {}

/** The database could not be reached or refused the quote. */
export class StorageUnavailable extends Error {}

export interface StoredQuote {
  readonly id: string;
  readonly createdAt: string; // ISO 8601 UTC with microseconds and a Z
  readonly expiresAt: string;
}

export function databaseUrl(): string {
  let url: string | undefined;
  try {
    url = Deno.env.get(DATABASE_URL_ENV)?.trim();
  } catch (error) {
    throw new StorageNotConfigured(`${DATABASE_URL_ENV} cannot be read: ${error}`);
  }
  if (!url) throw new StorageNotConfigured(`${DATABASE_URL_ENV} is not set`);
  return url;
}

/** Insert the quote; throws StorageUnavailable for any database failure. */
export async function storeQuote(
  url: string,
  request: QuoteRequest,
  breakdown: Breakdown,
  breakdownJson: string,
): Promise<StoredQuote> {
  let sql: postgres.Sql | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new StorageUnavailable(`database did not answer within ${STORE_TIMEOUT_SECONDS} s`)),
      STORE_TIMEOUT_SECONDS * 1000,
    );
  });
  try {
    sql = postgres(url, {
      max: 1,
      connect_timeout: CONNECT_TIMEOUT_SECONDS,
      prepare: false,
      onnotice: () => {},
      connection: { application_name: "calculate-quote" },
    });
    const rows = await Promise.race([
      sql.unsafe(INSERT, [
        request.grams.toString(),
        request.material,
        request.quality,
        request.quantity,
        request.deliverySpeed,
        breakdownJson,
        breakdown.total.toString(),
        CURRENCY,
        QUOTE_VALIDITY,
      ]),
      timeout,
    ]);
    const row = rows[0];
    if (row === undefined) throw new StorageUnavailable("INSERT … RETURNING returned no row");
    const { id, created_at: createdAt, expires_at: expiresAt } = row;
    if (typeof id !== "string" || typeof createdAt !== "string" || typeof expiresAt !== "string") {
      throw new StorageUnavailable("quotes table returned unexpected column types");
    }
    return { id, createdAt, expiresAt };
  } catch (error) {
    if (error instanceof StorageUnavailable) throw error;
    const name = error instanceof Error ? error.name : typeof error;
    throw new StorageUnavailable(`${name}: ${error instanceof Error ? error.message : error}`);
  } finally {
    clearTimeout(timer);
    await sql?.end({ timeout: 0 }).catch(() => {});
  }
}
