import { MalformedRecordError } from './malformed-record';
import type { TextCache } from './text-cache';

/**
 * Little helpers for the ledger's binary records: unsigned LEB128 integers (exact up to 2^53),
 * length-prefixed UTF-8 text, fixed-length byte strings. The reader checks every bound, so a
 * truncated or padded record is malformed rather than read past its end.
 */
export class BinaryWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity = 256) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  uint(value: number): void {
    this.reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  text(value: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    this.uint(bytes);
    this.reserve(bytes);
    this.length += this.buffer.write(value, this.length, 'utf8');
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.byteLength);
    this.buffer.set(value, this.length);
    this.length += value.byteLength;
  }

  /** A copy of what was written (the writer may be reused). */
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

export class BinaryReader {
  constructor(
    private readonly buffer: Buffer,
    private position: number,
    private readonly what: string,
  ) {}

  get atEnd(): boolean {
    return this.position === this.buffer.length;
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.buffer[this.position++];
      if (byte === undefined) throw this.malformed('truncated integer');
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw this.malformed('integer beyond 2^53');
        return value;
      }
      scale *= 0x80;
    }
    throw this.malformed('integer longer than 8 bytes');
  }

  byte(): number {
    const byte = this.buffer[this.position++];
    if (byte === undefined) throw this.malformed('truncated');
    return byte;
  }

  text(): string {
    const length = this.uint();
    const end = this.position + length;
    if (end > this.buffer.length) throw this.malformed('truncated text');
    const value = this.buffer.toString('utf8', this.position, end);
    this.position = end;
    return value;
  }

  /** `text()` through `cache`: the same string as the last time these bytes were read. */
  cachedText(cache: TextCache): string {
    const length = this.uint();
    if (this.position + length > this.buffer.length) throw this.malformed('truncated text');
    return this.cachedBytes(length, cache);
  }

  /** `length` bytes as text in the cache's encoding (hex, base64), without a Buffer for them. */
  cachedBytes(length: number, cache: TextCache): string {
    const end = this.position + length;
    if (end > this.buffer.length) throw this.malformed(`truncated: ${length} bytes expected`);
    const value = cache.read(this.buffer, this.position, end);
    this.position = end;
    return value;
  }

  /** `length` bytes as text in `encoding` (hex, base64), without a Buffer for them. */
  bytesAs(length: number, encoding: 'hex' | 'base64'): string {
    const end = this.position + length;
    if (end > this.buffer.length) throw this.malformed(`truncated: ${length} bytes expected`);
    const value = this.buffer.toString(encoding, this.position, end);
    this.position = end;
    return value;
  }

  bytes(length: number): Buffer {
    const end = this.position + length;
    if (end > this.buffer.length) throw this.malformed(`truncated: ${length} bytes expected`);
    const value = this.buffer.subarray(this.position, end);
    this.position = end;
    return value;
  }

  /** Throws unless every byte was read: a record with trailing bytes is not one we wrote. */
  end(): void {
    if (!this.atEnd) throw this.malformed(`${this.buffer.length - this.position} unexpected trailing byte(s)`);
  }

  malformed(detail: string): MalformedRecordError {
    return new MalformedRecordError(this.what, detail);
  }
}
