import type { ConfigHash } from './values';

/**
 * The key a lock is stored under: a 64-hex config hash packed into 32 one-byte characters. V8 keeps it
 * in 48 bytes instead of the 80 of the hex text, which matters at a million live locks. Anything that
 * is not 64 lower-case hex digits is kept verbatim behind a U+0100 marker, so the mapping stays
 * total and injective (a packed key only ever holds characters <= U+00FF).
 */
export type LockKey = string & { readonly __brand: 'LockKey' };

const VERBATIM_MARKER = '\u0100';
const HEX_DIGIT_VALUE = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX_DIGIT_VALUE['0123456789abcdef'.charCodeAt(digit)] = digit;
const BYTE_AS_HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
// Reused between calls: building the packed key allocates nothing but the key itself.
const packedBytes: number[] = new Array<number>(32).fill(0);

export function lockKeyOf(configHash: ConfigHash): LockKey {
  if (configHash.length !== 64) return (VERBATIM_MARKER + configHash) as LockKey;
  for (let byte = 0; byte < 32; byte++) {
    const high = HEX_DIGIT_VALUE[configHash.charCodeAt(2 * byte)] ?? -1;
    const low = HEX_DIGIT_VALUE[configHash.charCodeAt(2 * byte + 1)] ?? -1;
    if (high < 0 || low < 0) return (VERBATIM_MARKER + configHash) as LockKey;
    packedBytes[byte] = (high << 4) | low;
  }
  return String.fromCharCode(...packedBytes) as LockKey;
}

export function configHashOf(lockKey: LockKey): ConfigHash {
  if (lockKey.charCodeAt(0) === VERBATIM_MARKER.charCodeAt(0)) return lockKey.slice(1);
  let hex = '';
  for (let byte = 0; byte < lockKey.length; byte++) hex += BYTE_AS_HEX[lockKey.charCodeAt(byte)] ?? '';
  return hex;
}
