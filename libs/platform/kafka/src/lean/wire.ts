/**
 * Kafka's wire primitives (big-endian integers, int16-length strings, int32-count arrays) for the
 * non-flexible request and response versions the lean reader speaks.
 */

/** Builds a request body; grows as needed. */
export class WireWriter {
  private buffer = Buffer.allocUnsafe(256);
  private length = 0;

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  int8(value: number): this {
    this.room(1);
    this.length = this.buffer.writeInt8(value, this.length);
    return this;
  }

  int16(value: number): this {
    this.room(2);
    this.length = this.buffer.writeInt16BE(value, this.length);
    return this;
  }

  int32(value: number): this {
    this.room(4);
    this.length = this.buffer.writeInt32BE(value, this.length);
    return this;
  }

  int64(value: number): this {
    this.room(8);
    this.length = this.buffer.writeBigInt64BE(BigInt(value), this.length);
    return this;
  }

  /** A nullable string: int16 length (-1 for null), then UTF-8. */
  string(value: string | null): this {
    if (value === null) return this.int16(-1);
    const bytes = Buffer.byteLength(value, 'utf8');
    this.int16(bytes);
    this.room(bytes);
    this.length += this.buffer.write(value, this.length, 'utf8');
    return this;
  }

  array<T>(items: readonly T[], write: (item: T, writer: this) => void): this {
    this.int32(items.length);
    for (const item of items) write(item, this);
    return this;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

/** Reads a response body front to back. */
export class WireReader {
  constructor(
    readonly buffer: Buffer,
    public offset = 0,
  ) {}

  private need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) throw new WireFormatError(`response ends early: ${bytes} bytes wanted at ${this.offset} of ${this.buffer.length}`);
  }

  int8(): number {
    this.need(1);
    return this.buffer.readInt8(this.offset++);
  }

  boolean(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    this.need(2);
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** An int64 as a number: offsets and producer ids stay far below 2^53 in practice; checked. */
  int64(): number {
    this.need(8);
    const value = readInt64(this.buffer, this.offset);
    this.offset += 8;
    return value;
  }

  string(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    this.need(length);
    const value = this.buffer.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  requiredString(): string {
    const value = this.string();
    if (value === null) throw new WireFormatError('null where a string is required');
    return value;
  }

  /** int32-length bytes as a view of the response (no copy); null for length -1. */
  bytes(): Buffer | null {
    const length = this.int32();
    if (length < 0) return null;
    this.need(length);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /** An int32-count array; a null array (-1) reads as empty. */
  array<T>(read: (reader: this) => T): T[] {
    const count = this.int32();
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(read(this));
    return items;
  }
}

/** A big-endian int64 at `at` as a number; throws beyond 2^53, where a number would round. */
export function readInt64(buffer: Buffer, at: number): number {
  const high = buffer.readInt32BE(at);
  const low = buffer.readUInt32BE(at + 4);
  if (high > 0x1fffff || high < -0x200000) throw new WireFormatError(`int64 beyond 2^53 at ${at}`);
  return high * 0x1_0000_0000 + low;
}
