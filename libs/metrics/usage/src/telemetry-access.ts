import { CUMULATIVE_FIELDS, HOST_FIELDS, PROCESS_FIELDS, ROW_FIELDS, SESSION_FIELDS, specOf as spec, TELEMETRY_FIELDS } from './telemetry-fields';
import { INLINE_SIZE, VTABLE_OFFSETS } from './telemetry-layout';

/**
 * TELEMETRY_FIELDS as flat arrays indexed like it, for the reader's loops, and how a field is found
 * in a record whose structure the reader has checked.
 */
export const I64 = 0, U64 = 1, BOOL = 2, DECISION = 3, STR = 4, BYTES = 5, U32S = 6;
const KIND_CODES = { i64: I64, u64: U64, bool: BOOL, decision: DECISION, str: STR, bytes: BYTES, u32s: U32S } as const;

export const FIELD_COUNT = TELEMETRY_FIELDS.length;
export const NAMES: readonly string[] = TELEMETRY_FIELDS.map((f) => f.name);
export const KIND = Uint8Array.from(TELEMETRY_FIELDS, (f) => KIND_CODES[f.type]);
export const INLINE = Uint8Array.from(TELEMETRY_FIELDS, (f) => INLINE_SIZE[f.type]);
/** A string or a vector: the table holds an offset to it. */
export const IS_OFFSET = Uint8Array.from(KIND, (kind) => (kind >= STR ? 1 : 0));
export const VT = Uint16Array.from(VTABLE_OFFSETS);
export const IN_REQUEST = Uint8Array.from(TELEMETRY_FIELDS, (f) => (f.table === 'request' ? 1 : 0));
/** Absent fails validation. */
export const REQUIRED = Uint8Array.from(TELEMETRY_FIELDS, (f) => (spec(f).nonEmpty || spec(f).length !== undefined ? 1 : 0));
/** Present but empty fails validation. */
export const NOT_EMPTY = Uint8Array.from(TELEMETRY_FIELDS, (f) => (spec(f).nonEmpty || spec(f).nullable ? 1 : 0));
export const NULLABLE = Uint8Array.from(TELEMETRY_FIELDS, (f) => (spec(f).nullable ? 1 : 0));
export const LENGTH = Int32Array.from(TELEMETRY_FIELDS, (f) => spec(f).length ?? -1);
/** Index in CUMULATIVE_FIELDS, or -1. */
export const CUMULATIVE_AT = Int8Array.from(TELEMETRY_FIELDS, (f) => CUMULATIVE_FIELDS.indexOf(f.name as (typeof CUMULATIVE_FIELDS)[number]));
export const CUMULATIVE_INDEXES: readonly number[] = CUMULATIVE_FIELDS.map((name) => NAMES.indexOf(name));
/**
 * What every report needs, decoded as the record is parsed: the fields stored with it (ROW_FIELDS:
 * its metrics_report value columns, not the deltas), then the process identity (PROCESS_FIELDS).
 */
export const EAGER_INDEXES: readonly number[] = [...ROW_FIELDS, ...PROCESS_FIELDS].map((f) => TELEMETRY_FIELDS.indexOf(f));
/** Per field: its place in EAGER_INDEXES, or -1. */
export const EAGER_AT = Int8Array.from(TELEMETRY_FIELDS, (_f, i) => EAGER_INDEXES.indexOf(i));
/** The session's facts: its metrics_session columns and host facts. */
export const FACT_INDEXES: readonly number[] = TELEMETRY_FIELDS.flatMap((f, i) => (SESSION_FIELDS.includes(f) || HOST_FIELDS.includes(f) ? [i] : []));
export const indexOf = (name: string): number => NAMES.indexOf(name);

// Little-endian reads by hand: Buffer's read methods validate their argument on every call, and
// every position read here is checked against the buffer's bounds first.
export const u16 = (b: Buffer, at: number): number => (b[at] as number) | ((b[at + 1] as number) << 8);
export const u32 = (b: Buffer, at: number): number => ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) + (b[at + 3] as number) * 0x1000000;
export const i32 = (b: Buffer, at: number): number => (b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24);

/**
 * A checked record: its buffer and where the record's table (`t0…`) and the nested request's
 * (`t1…`) are, with their vtables' positions and sizes.
 */
export interface Located {
  readonly buffer: Buffer;
  readonly t0: number;
  readonly vt0: number;
  readonly vtSize0: number;
  readonly t1: number;
  readonly vt1: number;
  readonly vtSize1: number;
}

/** Where field `i` is: its value (scalars) or its length (strings, vectors); 0 when absent. */
export function positionOf(record: Located, i: number): number {
  const inRequest = IN_REQUEST[i] === 1;
  const vt = VT[i] as number;
  const vtable = inRequest ? record.vt1 : record.vt0;
  const b = record.buffer;
  const offset = vt < (inRequest ? record.vtSize1 : record.vtSize0) ? (b[vtable + vt] as number) | ((b[vtable + vt + 1] as number) << 8) : 0;
  if (offset === 0) return 0;
  const at = (inRequest ? record.t1 : record.t0) + offset;
  return IS_OFFSET[i] === 1 ? at + u32(b, at) : at;
}
