const TAB = 9;
const NEWLINE = 10;
const BACKSLASH = 92;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** COPY text format escapes: backslash, tab, newline and carriage return. */
export function copyEscape(value: string): string {
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : value;
}

/**
 * Rows in PostgreSQL's COPY text format, written straight into one growing Buffer: building each row
 * as a string (a concatenation per field, then UTF-8 encoding for the socket) was a good share of the
 * sink's CPU and garbage.
 */
export class CopyBuffer {
  private buffer: Buffer;
  private at = 0;
  private rowCount = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(4096, capacity));
  }

  get rows(): number {
    return this.rowCount;
  }

  /** A text value, escaped; null is \N. */
  text(value: string | null): void {
    if (value === null) {
      this.reserve(2);
      this.buffer[this.at++] = BACKSLASH;
      this.buffer[this.at++] = 78; // N
      return;
    }
    const n = value.length;
    // ASCII, every character escaped, is the most this loop writes.
    this.reserve(2 * n);
    const b = this.buffer;
    let at = this.at;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) {
        // Rare: the rest through the UTF-8 encoder (at most 3 bytes per UTF-16 unit).
        const rest = copyEscape(value.slice(i));
        this.at = at;
        this.reserve(3 * rest.length);
        this.at += this.buffer.write(rest, this.at, 'utf8');
        return;
      }
      if (c === BACKSLASH || c === TAB || c === NEWLINE || c === 13) {
        b[at++] = BACKSLASH;
        b[at++] = c === BACKSLASH ? BACKSLASH : c === TAB ? 116 : c === NEWLINE ? 110 : 114;
      } else b[at++] = c;
    }
    this.at = at;
  }

  /** A non-negative integer (digits written in place); anything else as its decimal text. */
  integer(value: number): void {
    if (!(value >= 0 && value <= MAX_SAFE && Number.isInteger(value))) {
      this.text(String(value));
      return;
    }
    this.reserve(16);
    let digits = 1;
    for (let p = 10; p <= value; p *= 10) digits++;
    let at = this.at + digits;
    this.at = at;
    const b = this.buffer;
    let n = value;
    do {
      const digit = n % 10;
      b[--at] = 48 + digit;
      // Exact: n - digit is a multiple of 10 below 2^53.
      n = (n - digit) / 10;
    } while (n > 0);
  }

  bool(value: boolean): void {
    this.reserve(1);
    this.buffer[this.at++] = value ? 116 : 102; // t / f
  }

  tab(): void {
    this.reserve(1);
    this.buffer[this.at++] = TAB;
  }

  endRow(): void {
    this.reserve(1);
    this.buffer[this.at++] = NEWLINE;
    this.rowCount++;
  }

  /** The rows written so far (a view: valid until the next write). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.at);
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.at + bytes));
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
  }
}
