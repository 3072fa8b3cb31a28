/** Decimal and time text of 64-bit values read from little-endian words, without BigInt where a double is exact. */

const TWO_32 = 4294967296;
/** High words below this make a value below 2^53: a double holds it exactly. */
export const SAFE_HIGH_WORD = 0x200000;

/** An unsigned 64-bit value (its words) as a decimal string, without BigInt: base 10^6 digits. */
export function u64Text(hi: number, lo: number): string {
  if (hi < SAFE_HIGH_WORD) return String(hi * TWO_32 + lo);
  // 2^32 = 4294 * 10^6 + 967296: value = (hi * 4294 + r / 10^6) * 10^6 + r % 10^6 with r = hi * 967296 + lo < 2^53.
  const r = hi * 967296 + lo;
  const high = hi * 4294 + Math.floor(r / 1e6);
  return `${high}${String(r % 1e6).padStart(6, '0')}`;
}

/** The little-endian int64 at `at` as a decimal string. */
export function i64Text(buffer: Buffer, at: number): string {
  const hi = buffer.readInt32LE(at + 4);
  return hi >= 0 ? u64Text(hi, buffer.readUInt32LE(at)) : buffer.readBigInt64LE(at).toString();
}

/** ns since the epoch → ISO 8601 with microseconds (rounded down to the microsecond). */
export function nsToIso(ns: bigint): string {
  const us = ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n);
  return isoFromUs(Number(us));
}

// Date formatting is the costly part, and a batch's reports mostly share their second: keep the last one.
let cachedSecond = Number.NaN;
let cachedPrefix = '';
function isoFromUs(us: number): string {
  const second = Math.floor(us / 1e6);
  if (second !== cachedSecond) {
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  return `${cachedPrefix}.${String(us - second * 1e6).padStart(6, '0')}Z`;
}

/** nsToIso of a canonical decimal string; without BigInt while the microseconds fit a double exactly. */
export function isoFromNsText(ns: string): string {
  if (ns.charCodeAt(0) !== 45 /* - */) {
    const us = ns.length > 3 ? Number(ns.slice(0, -3)) : 0;
    // Any value beyond 2^53-1 rounds to one that is not a safe integer: the test below catches it.
    if (Number.isSafeInteger(us)) return isoFromUs(us);
  }
  return nsToIso(BigInt(ns));
}
