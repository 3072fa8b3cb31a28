import * as access from './telemetry-access';
import type { Located } from './telemetry-access';

// Local bindings: a CommonJS import is read through a getter on every use.
const { FACT_INDEXES, IN_REQUEST, INLINE, IS_OFFSET, KIND, U32S, u16, u32, VT } = access;

/**
 * What a session's facts (its metrics_session columns and host facts) are read from, small enough
 * for a session cache to keep and cheap to compare: equal keys mean equal facts, so an unchanged
 * session needs no facts hash. Per table (the record's, the nested request's), three byte ranges:
 *
 * - its vtable: equal vtables put every field at the same place in the table;
 * - the part of the table from its first fact field to its last: the fact scalars, and the offsets
 *   to the fact strings and vectors (so, with the vtable, where those are relative to the table);
 * - the bytes from the first fact string or vector to the end of the last, relative to the table.
 *
 * Equal ranges mean equal facts (exact). Bytes of other fields that lie between facts (the nonce's
 * offset, say) only make an equal record compare as changed, which costs a facts hash, never a
 * wrong one; so does a record of the same session laid out differently.
 */
export interface FactsKey {
  /** The six ranges back to back. */
  readonly bytes: Buffer;
  /** Per table: vtable length, then the table part's and the span's start and end relative to the table. */
  readonly ranges: readonly number[];
}

const TABLE_FACTS = [0, 1].map((t) => FACT_INDEXES.filter((i) => IN_REQUEST[i] === t));
/** Fields per table: 0 the record, 1 the request. */
const VTABLE_OF = (r: Located, t: number): number => (t === 0 ? r.vt0 : r.vt1);
const VTABLE_SIZE_OF = (r: Located, t: number): number => (t === 0 ? r.vtSize0 : r.vtSize1);
const TABLE_OF = (r: Located, t: number): number => (t === 0 ? r.t0 : r.t1);

/** The ranges of table `t` into `out` (vtable length, part start/end, span start/end; relative to the table). */
function rangesOf(record: Located, t: number, out: number[]): void {
  const b = record.buffer;
  const table = TABLE_OF(record, t);
  const vtable = VTABLE_OF(record, t);
  const vtableSize = VTABLE_SIZE_OF(record, t);
  let partStart = Number.MAX_SAFE_INTEGER, partEnd = 0, spanStart = Number.MAX_SAFE_INTEGER, spanEnd = 0;
  for (const i of TABLE_FACTS[t] as number[]) {
    const vt = VT[i] as number;
    const offset = vt < vtableSize ? u16(b, vtable + vt) : 0;
    if (offset === 0) continue;
    if (offset < partStart) partStart = offset;
    if (offset + (INLINE[i] as number) > partEnd) partEnd = offset + (INLINE[i] as number);
    if (IS_OFFSET[i] === 0) continue;
    const target = offset + u32(b, table + offset);
    const end = target + 4 + u32(b, table + target) * (KIND[i] === U32S ? 4 : 1);
    if (target < spanStart) spanStart = target;
    if (end > spanEnd) spanEnd = end;
  }
  out.push(vtableSize, partEnd === 0 ? 0 : partStart, partEnd, spanEnd === 0 ? 0 : spanStart, spanEnd);
}

export function factsKeyOf(record: Located): FactsKey {
  const ranges: number[] = [];
  rangesOf(record, 0, ranges);
  rangesOf(record, 1, ranges);
  let size = 0;
  for (let t = 0; t < 2; t++) size += (ranges[5 * t] as number) + (ranges[5 * t + 2] as number) - (ranges[5 * t + 1] as number) + (ranges[5 * t + 4] as number) - (ranges[5 * t + 3] as number);
  // One unpooled copy: a cache keeps keys for long, and a pooled one would keep its whole 8 KiB slab alive.
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (let t = 0; t < 2; t++) {
    const table = TABLE_OF(record, t);
    const vtable = VTABLE_OF(record, t);
    at += record.buffer.copy(bytes, at, vtable, vtable + (ranges[5 * t] as number));
    at += record.buffer.copy(bytes, at, table + (ranges[5 * t + 1] as number), table + (ranges[5 * t + 2] as number));
    at += record.buffer.copy(bytes, at, table + (ranges[5 * t + 3] as number), table + (ranges[5 * t + 4] as number));
  }
  return { bytes, ranges };
}

/** True when bytes [start, end) of the record equal the key's from `at`. */
function same(record: Located, key: Buffer, at: number, start: number, end: number): boolean {
  return end <= record.buffer.length && record.buffer.compare(key, at, at + end - start, start, end) === 0;
}

export function hasFactsKey(record: Located, key: FactsKey): boolean {
  const { bytes, ranges } = key;
  let at = 0;
  for (let t = 0; t < 2; t++) {
    const vtableSize = ranges[5 * t] as number;
    const vtable = VTABLE_OF(record, t);
    if (vtableSize !== VTABLE_SIZE_OF(record, t) || !same(record, bytes, at, vtable, vtable + vtableSize)) return false;
    at += vtableSize;
    // Equal vtables: the table and every fact field in it are where the key's were, relative to it.
    const table = TABLE_OF(record, t);
    for (let part = 1; part <= 3; part += 2) {
      const start = table + (ranges[5 * t + part] as number);
      const end = table + (ranges[5 * t + part + 1] as number);
      if (!same(record, bytes, at, start, end)) return false;
      at += end - start;
    }
  }
  return true;
}
