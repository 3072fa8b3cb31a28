import { WireFormatError } from './errors';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

// Invalid UTF-8 is an error, not U+FFFD: a silently altered login or package name would change meaning.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** flatbuffers would silently wrap an out-of-range bigint; refuse instead. */
export function int64(field: string, value: bigint): bigint {
  if (value < INT64_MIN || value > INT64_MAX) throw new WireFormatError(`${field} = ${value} does not fit in int64`);
  return value;
}

export function uint64(field: string, value: bigint): bigint {
  if (value < 0n || value > UINT64_MAX) throw new WireFormatError(`${field} = ${value} does not fit in uint64`);
  return value;
}

export function uint32s(field: string, values: readonly number[]): number[] {
  for (const value of values) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new WireFormatError(`${field} holds ${value}, which is not a uint32`);
  }
  return [...values];
}

export function utf8(field: string, bytes: string | Uint8Array | null): string {
  if (bytes === null) return '';
  if (typeof bytes === 'string') return bytes;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WireFormatError(`${field} is not valid UTF-8`);
  }
}

/** A copy, so decoded messages never alias (or pin) the buffer they came from. */
export function copyBytes(bytes: Uint8Array | null): Uint8Array {
  return bytes === null ? new Uint8Array(0) : bytes.slice();
}

/** Element by element: the generated typed-array accessor throws on buffers not aligned to 4 bytes. */
export function readUint32s(length: number, at: (index: number) => number | null): number[] {
  const values: number[] = [];
  for (let i = 0; i < length; i++) values.push(at(i) ?? 0);
  return values;
}

export function requireLength(field: string, bytes: Uint8Array, expected: number): void {
  if (bytes.byteLength !== expected) throw new WireFormatError(`${field} must be ${expected} bytes, got ${bytes.byteLength}`);
}

export function requireNonEmpty(field: string, value: string | Uint8Array): void {
  if (value.length === 0) throw new WireFormatError(`${field} must not be empty`);
}
