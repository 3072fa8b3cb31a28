import * as access from './telemetry-access';
import type { Located } from './telemetry-access';

// Local bindings: a CommonJS import is read through a getter on every use.
const { FACT_INDEXES, IN_REQUEST, INLINE, IS_OFFSET, KIND, U32S, u32, VT } = access;

/**
 * What a session's facts (its metrics_session columns and host facts) are read from, small enough
 * for a session cache to keep: equal keys mean equal facts, so an unchanged session needs no facts
 * hash. Exact, and cheap to compare with a record: per table, the bytes from its first fact string or
 * vector to its last (the writers put a table's strings and vectors together, the non-fact nonce and
 * ingress instance outside them) are compared at once, and each fact's place in them and every fact
 * scalar word by word. A record laid out otherwise still compares correctly, just as changed.
 */
export interface FactsKey {
  /** Per fact, two: a scalar's words (zeros when absent), or a string's or vector's place in its table's span (-1 when absent) and length. */
  readonly words: readonly number[];
  /** Per table (record, request): its fact strings' and vectors' bytes, from the first to the last. */
  readonly spans: readonly [Buffer, Buffer];
}

// Per fact (FACT_INDEXES order): its table (0 record, 1 request), vtable offset, and what it is:
// SIZE 8 or 1 for a scalar, 0 for a string or vector (then ELEMENT is its element size).
const FACT_COUNT = FACT_INDEXES.length;
const TABLE = Uint8Array.from(FACT_INDEXES, (i) => IN_REQUEST[i] as number);
const FACT_VT = Uint16Array.from(FACT_INDEXES, (i) => VT[i] as number);
const SIZE = Uint8Array.from(FACT_INDEXES, (i) => (IS_OFFSET[i] === 1 ? 0 : (INLINE[i] as number)));
const ELEMENT = Uint8Array.from(FACT_INDEXES, (i) => (KIND[i] === U32S ? 4 : 1));
const WORD_COUNT = 2 * FACT_COUNT;
// Scratch for the record at hand: a call fills and reads them before returning (never across records).
const positions = new Int32Array(FACT_COUNT);
let start0 = 0, end0 = 0, start1 = 0, end1 = 0;

/** Positions of the facts (their values, or their strings' and vectors' lengths; 0 when absent) and each table's span. */
function locateFacts(record: Located): void {
  const b = record.buffer;
  start0 = start1 = Number.MAX_SAFE_INTEGER;
  end0 = end1 = 0;
  for (let f = 0; f < FACT_COUNT; f++) {
    const inRequest = TABLE[f] === 1;
    const vt = FACT_VT[f] as number;
    const vtable = inRequest ? record.vt1 : record.vt0;
    const offset = vt < (inRequest ? record.vtSize1 : record.vtSize0) ? (b[vtable + vt] as number) | ((b[vtable + vt + 1] as number) << 8) : 0;
    if (offset === 0) {
      positions[f] = 0;
      continue;
    }
    const at = (inRequest ? record.t1 : record.t0) + offset;
    if (SIZE[f] !== 0) {
      positions[f] = at;
      continue;
    }
    const target = at + u32(b, at);
    positions[f] = target;
    const end = target + 4 + u32(b, target) * (ELEMENT[f] as number);
    if (inRequest) {
      if (target < start1) start1 = target;
      if (end > end1) end1 = end;
    } else {
      if (target < start0) start0 = target;
      if (end > end0) end0 = end;
    }
  }
  if (end0 === 0) start0 = 0;
  if (end1 === 0) start1 = 0;
}

/** The key's words of fact `f` into `words` at 2f (see FactsKey). */
function writeWords(b: Buffer, f: number, words: number[]): void {
  const at = positions[f] as number;
  const size = SIZE[f] as number;
  if (size === 0) {
    words[2 * f] = at === 0 ? -1 : at - (TABLE[f] === 1 ? start1 : start0);
    words[2 * f + 1] = at === 0 ? 0 : u32(b, at);
  } else {
    // A one-byte fact is a bool: any byte but 0 is true.
    words[2 * f] = at === 0 ? 0 : size === 8 ? u32(b, at) : b[at] === 0 ? 0 : 1;
    words[2 * f + 1] = at === 0 || size !== 8 ? 0 : u32(b, at + 4);
  }
}

export function factsKeyOf(record: Located): FactsKey {
  locateFacts(record);
  const words = new Array<number>(WORD_COUNT);
  for (let f = 0; f < FACT_COUNT; f++) writeWords(record.buffer, f, words);
  // Unpooled copies: a cache keeps keys for long, and a pooled one would keep its whole 8 KiB slab alive.
  const span = (start: number, end: number): Buffer => {
    const copy = Buffer.allocUnsafeSlow(end - start);
    record.buffer.copy(copy, 0, start, end);
    return copy;
  };
  return { words, spans: [span(start0, end0), span(start1, end1)] };
}

const scratchWords = new Array<number>(WORD_COUNT).fill(0);

export function hasFactsKey(record: Located, key: FactsKey): boolean {
  locateFacts(record);
  const b = record.buffer;
  const [span0, span1] = key.spans;
  if (span0.length !== end0 - start0 || span1.length !== end1 - start1) return false;
  if (b.compare(span1, 0, span1.length, start1, end1) !== 0 || b.compare(span0, 0, span0.length, start0, end0) !== 0) return false;
  const words = key.words;
  for (let f = 0; f < FACT_COUNT; f++) {
    writeWords(b, f, scratchWords);
    if (scratchWords[2 * f] !== words[2 * f] || scratchWords[2 * f + 1] !== words[2 * f + 1]) return false;
  }
  return true;
}
