import { WireFormatError } from './errors';

/**
 * Longest string a LicenseRequest may carry, in UTF-8 bytes. Real values are far shorter (a
 * hostname is at most 64 bytes, an FQDN 253, `uname -v` 64); the bound keeps every string storable
 * downstream: a lease holder's session id and hostname are part of a PostgreSQL index key, whose
 * entries may not exceed about 2.7 kB, and the telemetry sink takes at most 4096 characters.
 */
export const MAX_TEXT_BYTES = 256;

// PostgreSQL text holds neither U+0000 nor an unpaired UTF-16 surrogate; one such value in a ledger
// event or a telemetry record could never be projected or stored. (Strict UTF-8 decoding already
// refuses encoded surrogates; the check matters for strings built in JavaScript.)
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `value` cannot be stored as text downstream, or null when it can. */
export function unstorableText(value: string, maxBytes = MAX_TEXT_BYTES): string | null {
  // Three UTF-8 bytes at most per UTF-16 unit: short strings need no byte count.
  if (value.length * 3 > maxBytes && Buffer.byteLength(value, 'utf8') > maxBytes) return `is longer than ${maxBytes} bytes of UTF-8`;
  const match = UNSTORABLE.exec(value);
  if (match) return match[0] === '\u0000' ? `contains U+0000 (NUL) at character ${match.index}` : `contains a lone UTF-16 surrogate at character ${match.index}`;
  return null;
}

/** Throws WireFormatError naming `field` unless `value` is storable text (see unstorableText). */
export function requireStorableText(field: string, value: string, maxBytes = MAX_TEXT_BYTES): void {
  const problem = unstorableText(value, maxBytes);
  if (problem !== null) throw new WireFormatError(`${field} ${problem}, which the license service cannot store`);
}
