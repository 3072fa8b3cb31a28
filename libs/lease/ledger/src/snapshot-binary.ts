/**
 * The byte-level writer and reader of snapshot bodies: unsigned varints, float64 times, and strings
 * through a table, so each distinct string (a gateway key, a hostname) is stored once however many
 * locks name it, and comes back as one shared string. Both throw on anything out of range: a body
 * that does not read exactly is not used.
 */
/** The body's offset of its string table, after the magic (6 bytes: bodies stay far below 2^48). */
const TABLE_POINTER_BYTES = 6;

export class SnapshotWriter {
  private buffer: Buffer;
  private length: number;
  private readonly strings = new Map<string, number>();
  private readonly table: string[] = [];

  /** Starts with `magic` and room for where the string table will start. */
  constructor(private readonly magic: Buffer) {
    this.buffer = Buffer.allocUnsafe(1 << 20);
    magic.copy(this.buffer, 0);
    this.length = magic.length + TABLE_POINTER_BYTES;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  /** A non-negative safe integer, 7 bits a byte. */
  varuint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative integer: ${value}`);
    this.reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  /** Any number, exactly (times, including the -Infinity of a state before its first event). */
  f64(value: number): void {
    this.reserve(8);
    this.buffer.writeDoubleLE(value, this.length);
    this.length += 8;
  }

  str(value: string): void {
    let index = this.strings.get(value);
    if (index === undefined) {
      index = this.table.length;
      this.strings.set(value, index);
      this.table.push(value);
    }
    this.varuint(index);
  }

  /** A string stored where it is (no table): for strings nearly always unique, like request ids. */
  text(value: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varuint(bytes);
    this.reserve(bytes);
    this.length += this.buffer.write(value, this.length, bytes, 'utf8');
  }

  /** A 64-digit lower-case hex text as its 32 bytes. */
  hex32(value: string): void {
    this.reserve(32);
    if (this.buffer.write(value, this.length, 32, 'hex') !== 32) throw new RangeError(`not 32 bytes of hex: ${value}`);
    this.length += 32;
  }

  /** Exactly `length` one-byte characters (U+0000..U+00FF), inline. */
  latin1(value: string, length: number): void {
    if (value.length !== length) throw new RangeError(`expected ${length} characters, got ${value.length}`);
    this.reserve(length);
    this.length += this.buffer.write(value, this.length, length, 'latin1');
  }

  /** The body: magic, where the table starts, everything written, then the string table. */
  finish(): Buffer {
    const tableAt = this.length;
    this.varuint(this.table.length);
    for (const text of this.table) this.text(text);
    this.buffer.writeUIntLE(tableAt, this.magic.length, TABLE_POINTER_BYTES);
    return this.buffer.subarray(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

export class SnapshotReader {
  private position: number;
  /** Where the data ends and the string table begins. */
  private readonly dataEnd: number;
  private readonly table: string[] = [];

  /** Checks `magic` and reads the string table; the rest is read by the caller. */
  constructor(
    private readonly buffer: Buffer,
    magic: Buffer,
  ) {
    if (buffer.length < magic.length + TABLE_POINTER_BYTES || !buffer.subarray(0, magic.length).equals(magic)) throw new RangeError('not a partition snapshot (bad magic)');
    this.dataEnd = buffer.readUIntLE(magic.length, TABLE_POINTER_BYTES);
    if (this.dataEnd < magic.length + TABLE_POINTER_BYTES || this.dataEnd > buffer.length) throw new RangeError('string table out of bounds');
    this.position = this.dataEnd;
    for (let count = this.varuint(); count > 0; count--) this.table.push(this.text());
    if (this.position !== buffer.length) throw new RangeError(`${buffer.length - this.position} bytes left over after the string table`);
    this.position = magic.length + TABLE_POINTER_BYTES;
  }

  u8(): number {
    const at = this.position;
    this.take(1);
    return this.buffer[at] as number;
  }

  bool(): boolean {
    const value = this.u8();
    if (value > 1) throw new RangeError(`not a boolean: ${value}`);
    return value === 1;
  }

  varuint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('varint too long');
    }
    if (!Number.isSafeInteger(value)) throw new RangeError(`varint out of range: ${value}`);
    return value;
  }

  f64(): number {
    const at = this.position;
    this.take(8);
    return this.buffer.readDoubleLE(at);
  }

  str(): string {
    const index = this.varuint();
    const text = this.table[index];
    if (text === undefined) throw new RangeError(`no string ${index} in the table`);
    return text;
  }

  text(): string {
    const bytes = this.varuint();
    const at = this.position;
    return this.buffer.toString('utf8', at, this.take(bytes));
  }

  hex32(): string {
    const at = this.position;
    return this.buffer.toString('hex', at, this.take(32));
  }

  latin1(length: number): string {
    const at = this.position;
    return this.buffer.toString('latin1', at, this.take(length));
  }

  /** Throws unless the data was read up to the string table: other bytes mean a different layout. */
  end(): void {
    if (this.position !== this.dataEnd) throw new RangeError(`${this.dataEnd - this.position} bytes left over`);
  }

  /** Moves past `bytes` bytes; returns the new position. */
  private take(bytes: number): number {
    const next = this.position + bytes;
    if (next > this.buffer.length) throw new RangeError('snapshot body ends early');
    this.position = next;
    return next;
  }
}

/** A presence flag, then the value when there is one. */
export function optional<T>(w: SnapshotWriter, value: T | undefined, write: (value: T) => void): void {
  w.bool(value !== undefined);
  if (value !== undefined) write(value);
}

export function unexpected(value: never): never {
  throw new RangeError(`unexpected value ${JSON.stringify(value)}`);
}
