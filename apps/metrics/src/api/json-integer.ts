const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INTEGER = /^-?(0|[1-9][0-9]*)$/;

/**
 * An integer as the API answers it: a JSON number up to 2^53-1 in magnitude (every JSON parser reads
 * those exactly), its decimal string beyond (a number there would be rounded by JavaScript's and most
 * other parsers; sums of 64-bit counters get there). Numbers as before for every value they were
 * exact for. docs/metrics-api.md, "Large numbers".
 */
export type ApiInteger = number | string;

/**
 * From what the database returns for an integer (PostgreSQL bigint or numeric as text, a bigint or a
 * number): null, no rows, is 0. Throws on anything that is not an integer, rather than answer a wrong one.
 */
export function apiInteger(value: unknown): ApiInteger {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return value;
    throw new Error(`not an exact integer: ${value}`);
  }
  const text = typeof value === 'bigint' ? value.toString() : typeof value === 'string' ? value : '';
  if (!INTEGER.test(text)) throw new Error(`not an integer: ${String(value)}`);
  // Up to 15 digits (sign included) is below 10^15 < 2^53: the common case, without BigInt.
  if (text.length <= 15) return Number(text);
  const big = BigInt(text);
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : text;
}

/** An ApiInteger as a double, for estimates (percentiles) where rounding beyond 2^53 does not matter. */
export const approximate = (value: ApiInteger): number => (typeof value === 'number' ? value : Number(value));
