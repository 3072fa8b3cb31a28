import { timingSafeEqual } from 'node:crypto';
import { CryptoError } from './errors';

/** Source of random bytes; injected so tests and test vectors are deterministic. */
export type RandomBytes = (length: number) => Uint8Array;

/** A plain Uint8Array view of a Node Buffer (no copy), so results compare equal to Uint8Arrays. */
export function plain(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Constant-time for equal lengths: keys and hashes are compared without leaking where they differ. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(text: string, what = 'hex'): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new CryptoError(`${what} is not an even-length hex string`);
  return plain(Buffer.from(text, 'hex'));
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Standard base64 with padding, nothing else: Node's decoder would silently skip stray characters. */
export function fromBase64(text: string, what = 'base64'): Uint8Array {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) throw new CryptoError(`${what} is not standard base64`);
  return plain(Buffer.from(text, 'base64'));
}

export function requireKeyLength(what: string, bytes: Uint8Array, expected: number): void {
  if (bytes.byteLength !== expected) throw new CryptoError(`${what} must be ${expected} bytes, got ${bytes.byteLength}`);
}
