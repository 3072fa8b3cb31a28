/** Longer texts (messages, reasons) are rare and varied: decoded every time, never kept. */
const MAX_BYTES = 64;
const HASH_SEED = 0x9e3779b1;
const HASH_PRIME = 0x01000193;

/**
 * Texts a replay reads over and over (agreement ids, gateway keys, hostnames) decoded once: a
 * fixed-size, direct-mapped cache from a text's bytes to its string. Besides sparing the decode and
 * the garbage, every event naming it then shares one string, whose hash V8 keeps: the fold's map
 * lookups and holder comparisons get cheaper. A miss costs a hash and a copy of the bytes; the cache
 * never grows (a slot holds the text last seen there).
 */
export class TextCache {
  private readonly bits: number;
  private readonly strings: Array<string | undefined>;
  private readonly lengths: Uint8Array;
  private readonly bytes: Buffer;

  constructor(
    private readonly encoding: 'utf8' | 'hex' | 'base64',
    slotsLog2 = 14,
  ) {
    if (!Number.isInteger(slotsLog2) || slotsLog2 < 1 || slotsLog2 > 24) throw new RangeError(`a text cache has 2^1 to 2^24 slots, not 2^${slotsLog2}`);
    this.bits = slotsLog2;
    const slots = 1 << slotsLog2;
    this.strings = new Array<string | undefined>(slots).fill(undefined);
    this.lengths = new Uint8Array(slots);
    this.bytes = Buffer.alloc(slots * MAX_BYTES);
  }

  /** `buffer.toString(encoding, start, end)`, the same string as the last time these bytes were read. */
  read(buffer: Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_BYTES) return buffer.toString(this.encoding, start, end);
    // Four bytes a multiplication (the multiplications' latency is what a byte at a time costs).
    let hash = Math.imul(HASH_SEED, length + 1);
    let i = start;
    for (; i + 4 <= end; i += 4) {
      const word = (buffer[i] as number) | ((buffer[i + 1] as number) << 8) | ((buffer[i + 2] as number) << 16) | ((buffer[i + 3] as number) << 24);
      hash = Math.imul(hash ^ word, HASH_PRIME);
    }
    for (; i < end; i++) hash = Math.imul(hash ^ (buffer[i] as number), HASH_PRIME);
    hash = Math.imul(hash ^ (hash >>> 15), HASH_SEED);
    const slot = hash >>> (32 - this.bits);
    const cached = this.strings[slot];
    const base = slot * MAX_BYTES;
    if (cached !== undefined && this.lengths[slot] === length && this.sameBytes(base, buffer, start, length)) return cached;
    const value = buffer.toString(this.encoding, start, end);
    this.strings[slot] = value;
    this.lengths[slot] = length;
    buffer.copy(this.bytes, base, start, end);
    return value;
  }

  private sameBytes(base: number, buffer: Buffer, start: number, length: number): boolean {
    for (let i = 0; i < length; i++) if (this.bytes[base + i] !== buffer[start + i]) return false;
    return true;
  }
}
