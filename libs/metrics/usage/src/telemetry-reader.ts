import { isUtf8 } from 'node:buffer';
import * as access from './telemetry-access';
import type { Located } from './telemetry-access';
import * as facts from './telemetry-facts';
import type { FactsKey } from './telemetry-facts';
import { TELEMETRY_DECISIONS, TELEMETRY_FIELDS, type TelemetryDecision, type TelemetryValues } from './telemetry-fields';
import * as layout from './telemetry-layout';
import { i64Text, isoFromNsText, SAFE_HIGH_WORD, u64Text } from './telemetry-text';

/** 3: the FlatBuffers record (telemetry.fbs); 1 and 2: older formats, read through legacy/. */
export type TelemetryVersion = 1 | 2 | 3;

/**
 * A validated record: every field of TELEMETRY_FIELDS under its name, plus what the sink needs of
 * every report. What is stored with each report is decoded as it is parsed, the rest (the session's
 * facts, mostly) when read. The cumulative values (CUMULATIVE_FIELDS order) are doubles in
 * `cumulative`, exact while below 2^53; when one is not, `cumulativeBig` holds all of them exactly.
 * Refers to the record's buffer (usually a slice of a whole Kafka fetch): keep it only while its
 * batch is processed; factsKey() copies what a session cache may keep.
 */
export type TelemetryReport = TelemetryValues & {
  readonly version: TelemetryVersion;
  /** received_time_utc as ISO 8601 with microseconds (PostgreSQL's precision). */
  readonly received_at: string;
  readonly cumulative: readonly number[];
  readonly cumulativeBig: readonly bigint[] | undefined;
  /** The values of ROW_FIELDS (stored with every report), in that order; then those of PROCESS_FIELDS. */
  readonly row: readonly unknown[];
  factsKey(): FactsKey;
  hasFactsKey(key: FactsKey): boolean;
};

export type ParseResult = { ok: true; report: TelemetryReport } | { ok: false; error: string };
export type { FactsKey };

/** The session id of a process whose gateway sent none: what identifies the process. */
export const derivedSessionId = (keyFingerprint: string, hostname: string, processId: string, processStartTimeUtc: string): string =>
  `~${keyFingerprint}/${hostname}/${processId}/${processStartTimeUtc}`;

/** True when `value` is a version 3 record: its FlatBuffers file identifier. */
export function isCurrentTelemetry(value: Uint8Array): boolean {
  return value.length >= 8 && value[4] === IDENT[0] && value[5] === IDENT[1] && value[6] === IDENT[2] && value[7] === IDENT[3];
}

// Local bindings of what the hot paths use: a CommonJS import is read through a getter on every use.
const { BOOL, BYTES, CUMULATIVE_AT, CUMULATIVE_INDEXES, DECISION, FIELD_COUNT, I64, i32, indexOf, INLINE, IN_REQUEST, KIND, LENGTH, NAMES, NOT_EMPTY, NULLABLE, positionOf, REQUIRED, EAGER_AT, EAGER_INDEXES, STR, U32S, u16, u32, U64, VT } = access;
const DECISION_NAMES: readonly TelemetryDecision[] = [...TELEMETRY_DECISIONS];
const { FILE_IDENTIFIER, REQUEST_VTABLE_OFFSET } = layout;
const IDENT = Buffer.from(FILE_IDENTIFIER, 'latin1');
const RECEIVED_ROW = EAGER_AT[indexOf('received_time_utc')] as number;
const SESSION_ROW = EAGER_AT[indexOf('session_id')] as number;
/** The request's fields follow the record's own in TELEMETRY_FIELDS (checked here). */
const REQUEST_FROM = IN_REQUEST.indexOf(1);
if (IN_REQUEST.subarray(REQUEST_FROM).includes(0)) throw new Error('telemetry fields: the request fields must follow the record fields');
const IDENTITY = ['key_fingerprint', 'hostname', 'process_id', 'process_start_time_utc'].map(indexOf);
const DECISION_COUNT = DECISION_NAMES.length;
const MAX_CHARACTERS = 4096;
const MAX_U32S = 1024;
const TWO_32 = 4294967296;
const { factsKeyOf: FACTS_KEY_OF, hasFactsKey: HAS_FACTS_KEY } = facts;
const U64_TEXT = u64Text;
const I64_TEXT = i64Text;
const ISO_FROM_NS_TEXT = isoFromNsText;
const IS_UTF8 = isUtf8;

function refused(version: TelemetryVersion, why: string): ParseResult {
  return { ok: false, error: `v${version}: ${why}` };
}

// Scratch of the record being parsed: filled and read within one call (never across records).
let table = 0, vtable = 0, vtableSize = 0, tableSize = 0, wide = false;
/** Per field, as positionOf finds it. */
const positions = new Int32Array(FIELD_COUNT);

/** The root table of the FlatBuffer in buffer[start, end) into the scratch, every offset checked against those bounds; or why not. */
function locateTable(buffer: Buffer, start: number, end: number): string | null {
  if (end - start < 8) return `${end - start} bytes is too short`;
  table = start + u32(buffer, start);
  if (table + 4 > end) return 'the root offset is outside the buffer';
  vtable = table - i32(buffer, table);
  if (vtable < start || vtable + 4 > end) return 'the vtable is outside the buffer';
  vtableSize = u16(buffer, vtable);
  tableSize = u16(buffer, vtable + 2);
  if (vtableSize < 4 || vtableSize % 2 !== 0 || vtable + vtableSize > end) return 'the vtable size is invalid';
  if (tableSize < 4 || table + tableSize > end) return 'the table size is invalid';
  return null;
}

/** Why buffer[start, end) is not storable text, or null: valid UTF-8, no U+0000, at most 4,096 characters. */
function textProblem(buffer: Buffer, start: number, end: number): string | null {
  for (let at = start; at < end; at++) {
    const byte = buffer[at] as number;
    if (byte === 0) return 'contains U+0000';
    if (byte >= 0x80) {
      // Not ASCII (rare): in valid UTF-8 only U+0000 has a zero byte.
      if (!IS_UTF8(buffer.subarray(start, end))) return 'is not valid UTF-8';
      const zero = buffer.indexOf(0, at);
      if (zero !== -1 && zero < end) return 'contains U+0000';
      if (end - start > MAX_CHARACTERS && buffer.toString('utf8', start, end).length > MAX_CHARACTERS) return `is longer than ${MAX_CHARACTERS} characters`;
      return null;
    }
  }
  return end - start > MAX_CHARACTERS ? `is longer than ${MAX_CHARACTERS} characters` : null;
}

/**
 * Parses and validates a version 3 record (telemetry.fbs) against TELEMETRY_FIELDS: structure (every
 * offset inside the buffer: the JavaScript runtime has no verifier), then each field's type and
 * rules. Never throws. The report refers to `buffer`, which must not change afterwards. `version`
 * names the format the record was translated from (legacy/), for errors and the report.
 */
export function parseCurrentTelemetry(buffer: Buffer, version: TelemetryVersion = 3): ParseResult {
  const outer = locateTable(buffer, 0, buffer.length);
  if (outer !== null) return refused(version, `record: ${outer}`);
  const [t0, vt0, vtSize0] = [table, vtable, vtableSize];
  const requestOffset = REQUEST_VTABLE_OFFSET < vtableSize ? u16(buffer, vtable + REQUEST_VTABLE_OFFSET) : 0;
  if (requestOffset === 0) return refused(version, 'request is missing');
  if (requestOffset < 4 || requestOffset + 4 > tableSize) return refused(version, 'request lies outside its table');
  const request = table + requestOffset + u32(buffer, table + requestOffset);
  const requestEnd = request + 4 + (request + 4 <= buffer.length ? u32(buffer, request) : 0);
  if (request + 4 > buffer.length || requestEnd > buffer.length) return refused(version, 'request runs past the end of the record');
  const cumulative = new Array<number>(CUMULATIVE_INDEXES.length).fill(0);
  wide = false;
  const problem = checkFields(buffer, 0, REQUEST_FROM, buffer.length, cumulative) ?? locateTable(buffer, request + 4, requestEnd) ?? checkFields(buffer, REQUEST_FROM, FIELD_COUNT, requestEnd, cumulative);
  if (problem !== null) return refused(version, problem);
  const report = new Report(version, buffer, t0, vt0, vtSize0, table, vtable, vtableSize, cumulative, wide);
  // Its fields are getters defined on the prototype from TELEMETRY_FIELDS (below), out of the compiler's sight.
  return { ok: true, report: report as unknown as TelemetryReport };
}

/**
 * Checks fields [from, to) of the table in the scratch, whose buffer ends at `end`, noting the
 * cumulative values; or says what is wrong.
 */
function checkFields(buffer: Buffer, from: number, to: number, end: number, cumulative: number[]): string | null {
  const t = table, v = vtable, vSize = vtableSize, tSize = tableSize;
  for (let i = from; i < to; i++) {
    const vt = VT[i] as number;
    const offset = vt < vSize ? (buffer[v + vt] as number) | ((buffer[v + vt + 1] as number) << 8) : 0;
    if (offset === 0) {
      if (REQUIRED[i] === 1) return `${NAMES[i]} is missing`;
      positions[i] = 0;
      continue;
    }
    if (offset < 4 || offset + (INLINE[i] as number) > tSize) return `${NAMES[i]} lies outside its table`;
    const at = t + offset;
    const kind = KIND[i];
    positions[i] = at;
    if (kind === U64) {
      const hi = u32(buffer, at + 4);
      if (hi >= 0x80000000) return `${NAMES[i]} exceeds 2^63-1`;
      const c = CUMULATIVE_AT[i] as number;
      if (c >= 0) {
        if (hi >= SAFE_HIGH_WORD) wide = true;
        cumulative[c] = hi * TWO_32 + u32(buffer, at);
      }
    } else if (kind === DECISION) {
      if ((buffer[at] as number) >= DECISION_COUNT) return `unknown ${NAMES[i]} ${buffer[at]}`;
    } else if (kind !== I64 && kind !== BOOL) {
      const target = at + u32(buffer, at);
      positions[i] = target;
      if (target + 4 > end) return `${NAMES[i]} lies outside the record`;
      const count = u32(buffer, target);
      const start = target + 4;
      // Strings end in a zero byte after their contents.
      if (start + count * (kind === U32S ? 4 : 1) + (kind === STR ? 1 : 0) > end) return `${NAMES[i]} runs past the end of the record`;
      if (kind === STR) {
        const problem = textProblem(buffer, start, start + count);
        if (problem !== null) return `${NAMES[i]} ${problem}`;
      } else if (kind === U32S && count > MAX_U32S) return `${NAMES[i]} has more than ${MAX_U32S} values`;
      if (count === 0 && NOT_EMPTY[i] === 1) return `${NAMES[i]} is empty`;
      const length = LENGTH[i] as number;
      if (length >= 0 && count !== length) return `${NAMES[i]} has ${count} bytes, not ${length}`;
    }
  }
  return null;
}

/** Field `i` of a checked record, as reported. */
function decode(record: Located, i: number): unknown {
  return decodeAt(record.buffer, positionOf(record, i), i);
}

/** Field `i`, whose value (or length) is at `at` (0: absent). */
function decodeAt(b: Buffer, at: number, i: number): unknown {
  switch (KIND[i]) {
    case I64:
      return at === 0 ? '0' : I64_TEXT(b, at);
    case U64:
      return at === 0 ? '0' : U64_TEXT(u32(b, at + 4), u32(b, at));
    case BOOL:
      // As FlatBuffers reads a bool (and the protocol's decoder did): any byte but 0 is true.
      return at !== 0 && b[at] !== 0;
    case DECISION:
      return DECISION_NAMES[at === 0 ? 0 : (b[at] as number)];
    case STR:
      if (at === 0) return NULLABLE[i] === 1 ? null : '';
      return b.toString('utf8', at + 4, at + 4 + u32(b, at));
    case BYTES:
      return at === 0 ? '' : b.toString('hex', at + 4, at + 4 + u32(b, at));
    default: {
      const values: number[] = [];
      if (at !== 0) for (let n = u32(b, at), p = at + 4; n > 0; n--, p += 4) values.push(u32(b, p));
      return values;
    }
  }
}

/** A validated record (and where its tables are). Every field is a getter on the prototype (defined below). */
class Report implements Located {
  readonly row: unknown[];
  readonly cumulativeBig: readonly bigint[] | undefined;
  readonly received_at: string;

  constructor(
    readonly version: TelemetryVersion,
    readonly buffer: Buffer,
    readonly t0: number,
    readonly vt0: number,
    readonly vtSize0: number,
    readonly t1: number,
    readonly vt1: number,
    readonly vtSize1: number,
    readonly cumulative: readonly number[],
    wide: boolean,
  ) {
    this.cumulativeBig = wide ? CUMULATIVE_INDEXES.map((i) => (positionOf(this, i) === 0 ? 0n : buffer.readBigUInt64LE(positionOf(this, i)))) : undefined;
    const row = new Array<unknown>(EAGER_INDEXES.length);
    // At the positions parseCurrentTelemetry has just found.
    for (let r = 0; r < EAGER_INDEXES.length; r++) row[r] = decodeAt(buffer, positions[EAGER_INDEXES[r] as number] as number, EAGER_INDEXES[r] as number);
    if (row[SESSION_ROW] === '') row[SESSION_ROW] = derivedSessionId(...(IDENTITY.map((i) => decode(this, i)) as [string, string, string, string]));
    this.row = row;
    this.received_at = ISO_FROM_NS_TEXT(row[RECEIVED_ROW] as string);
  }

  valueAt(i: number): unknown {
    const r = EAGER_AT[i] as number;
    return r >= 0 ? this.row[r] : decode(this, i);
  }

  factsKey(): FactsKey {
    return FACTS_KEY_OF(this);
  }

  hasFactsKey(key: FactsKey): boolean {
    return HAS_FACTS_KEY(this, key);
  }
}

TELEMETRY_FIELDS.forEach((field, i) => {
  Object.defineProperty(Report.prototype, field.name, {
    get(this: Report) {
      return this.valueAt(i);
    },
    enumerable: true,
  });
});

/** Every field of a report as an own property (for tests and comparisons). */
export function plainReport(report: TelemetryReport): Record<string, unknown> {
  const plain: Record<string, unknown> = { version: report.version, received_at: report.received_at, cumulative: report.cumulative, cumulativeBig: report.cumulativeBig };
  for (const { name } of TELEMETRY_FIELDS) plain[name] = report[name];
  return plain;
}
