import { isUtf8 } from 'node:buffer';
import {
  CUMULATIVE_FIELDS,
  FEATURE_FIELDS,
  isoFromNsText,
  type ParseResult,
  type TelemetryDecision,
  type TelemetryReport,
  TELEMETRY_DECISIONS,
  derivedSessionId,
} from './telemetry-record';

/**
 * Telemetry record schema version 2 (docs/telemetry.md): a fixed little-endian layout the sink reads
 * field by field, instead of JSON (whose parsing and 64-bit decimal strings were most of the sink's
 * CPU). Byte 0 is 0x00, which no v1 (UTF-8 JSON) record starts with; byte 1 is the version.
 *
 *   0   u8   0x00              4   u16  flags: bit 0 is_uat, bits 1-9 FEATURE_FIELDS in order
 *   1   u8   2 (version)       6   u16  0 (reserved)
 *   2   u8   decision (TELEMETRY_DECISIONS index)
 *   3   u8   bit 0: agreement_id present (else null); other bits 0
 *   8   i64 × 4   I64_FIELDS
 *   40  u64 × 15  U64_FIELDS (each <= 2^63-1: stored in PostgreSQL bigint)
 *   160 u64 × 22  CUMULATIVE_FIELDS (each <= 2^63-1)
 *   336 16 bytes  nonce;   352 32 bytes config_hash
 *   384 u16 × 20  UTF-8 byte length of each STRING_FIELDS entry; 424 u16 cpuid count; 426 u16 cpu_affinity count
 *   428 the strings' UTF-8 bytes, back to back, in STRING_FIELDS order; then cpuid, cpu_affinity as u32s
 *
 * Bytes after the cpu_affinity values are ignored: later revisions of v2 only append fields there.
 */
export const TELEMETRY_V2_MARKER = 0x00;
export const TELEMETRY_V2_VERSION = 2;

export const I64_FIELDS = ['received_time_utc', 'request_time_utc', 'token_expiry_time_utc', 'process_start_time_utc'] as const;
export const U64_FIELDS = [
  'package_build_number',
  'number_of_processors',
  'cache_line_size',
  'page_size',
  'system_uptime',
  'system_total_memory',
  'system_available_memory',
  'system_total_swap',
  'system_available_swap',
  'process_id',
  'process_max_rss',
  'symbols',
  'total_symbols',
  'accounts',
  'users',
] as const;
export const STRING_FIELDS = [
  'agreement_id',
  'key_fingerprint',
  'ingress_instance',
  'package_name',
  'package_version',
  'package_build_host',
  'hostname',
  'network_hostname',
  'machine_id',
  'machine',
  'cpu_vendor',
  'cpu_brand',
  'kernel_name',
  'kernel_release',
  'kernel_version',
  'service_name',
  'api_name',
  'api',
  'instance',
  'session_id',
] as const;

const I64_AT = 8;
const U64_AT = I64_AT + 8 * I64_FIELDS.length;
const CUMULATIVE_AT = U64_AT + 8 * U64_FIELDS.length;
const NONCE_AT = CUMULATIVE_AT + 8 * CUMULATIVE_FIELDS.length;
const CONFIG_HASH_AT = NONCE_AT + 16;
const LENGTHS_AT = CONFIG_HASH_AT + 32;
const COUNTS_AT = LENGTHS_AT + 2 * STRING_FIELDS.length;
const STRINGS_AT = COUNTS_AT + 4;
const MAX_STRING = 4096;
const MAX_U32S = 1024;
const TWO_32 = 4294967296;
/** High words below this make a value below 2^53: a double holds it exactly. */
const SAFE_HI = 0x200000;

/**
 * What the ingress knows of an accepted request: the LicenseRequest (camelCase, as decoded). Restated
 * here rather than imported because the metrics domain may not depend on the wire protocol; the
 * ingress passes its LicenseRequest, so the compiler keeps the two in step.
 */
export interface TelemetrySource {
  readonly requestTimeUtc: bigint;
  readonly tokenExpiryTimeUtc: bigint;
  readonly nonce: Uint8Array;
  readonly packageName: string;
  readonly packageVersion: string;
  readonly packageBuildNumber: bigint;
  readonly packageBuildHost: string;
  readonly hostname: string;
  readonly networkHostname: string;
  readonly machineId: string;
  readonly machine: string;
  readonly cpuid: readonly number[];
  readonly cpuVendor: string;
  readonly cpuBrand: string;
  readonly numberOfProcessors: bigint;
  readonly cacheLineSize: bigint;
  readonly pageSize: bigint;
  readonly kernelName: string;
  readonly kernelRelease: string;
  readonly kernelVersion: string;
  readonly systemUptime: bigint;
  readonly systemTotalMemory: bigint;
  readonly systemAvailableMemory: bigint;
  readonly systemTotalSwap: bigint;
  readonly systemAvailableSwap: bigint;
  readonly processId: bigint;
  readonly processStartTimeUtc: bigint;
  readonly processMaxRss: bigint;
  readonly serviceName: string;
  readonly apiName: string;
  readonly api: string;
  readonly instance: string;
  readonly sessionId: string;
  readonly isUat: boolean;
  readonly cpuAffinity: readonly number[];
  readonly symbols: bigint;
  readonly totalSymbols: bigint;
  readonly configHash: Uint8Array;
  readonly accounts: bigint;
  readonly users: bigint;
  readonly createOrder: bigint;
  readonly modifyOrder: bigint;
  readonly cancelOrder: bigint;
  readonly cancelAllOrders: bigint;
  readonly massQuote: bigint;
  readonly cancelQuotes: bigint;
  readonly pleaseReport: boolean;
  readonly pleaseReportDetails: boolean;
  readonly downloadTrades: boolean;
  readonly downloadOrders: boolean;
  readonly eventLog: boolean;
  readonly positionManager: boolean;
  readonly riskManager: boolean;
  readonly journal: boolean;
  readonly udpPublish: boolean;
  readonly internalLatencySum: bigint;
  readonly internalLatencyCount500ns: bigint;
  readonly internalLatencyCount1us: bigint;
  readonly internalLatencyCount2us: bigint;
  readonly internalLatencyCount5us: bigint;
  readonly internalLatencyCount10us: bigint;
  readonly internalLatencyCount20us: bigint;
  readonly internalLatencyCountInf: bigint;
  readonly externalLatencySum: bigint;
  readonly externalLatencyCount10us: bigint;
  readonly externalLatencyCount100us: bigint;
  readonly externalLatencyCount1ms: bigint;
  readonly externalLatencyCount10ms: bigint;
  readonly externalLatencyCount100ms: bigint;
  readonly externalLatencyCount1s: bigint;
  readonly externalLatencyCountInf: bigint;
}

export interface TelemetrySourceContext {
  readonly agreementId: string | null;
  readonly keyFingerprint: string;
  readonly receivedTimeNs: bigint;
  readonly decision: TelemetryDecision;
  readonly ingressInstance: string;
}

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
type SourceKey = keyof TelemetrySource;
const U64_SOURCE = U64_FIELDS.map(camel) as SourceKey[];
const CUMULATIVE_SOURCE = CUMULATIVE_FIELDS.map(camel) as SourceKey[];
const FEATURE_SOURCE = FEATURE_FIELDS.map(camel) as SourceKey[];
const REQUEST_STRING_SOURCE = STRING_FIELDS.slice(3).map(camel) as SourceKey[];
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

function writeU64(buffer: Buffer, at: number, value: bigint): void {
  // Number() of a bigint is far cheaper than writeBigUInt64LE's bigint shifts; exact below 2^53.
  if (value >= 0n && value <= MAX_SAFE_BIG) {
    const n = Number(value);
    buffer.writeUInt32LE(n >>> 0, at);
    buffer.writeUInt32LE(Math.floor(n / TWO_32), at + 4);
  } else buffer.writeBigUInt64LE(value, at);
}
function writeI64(buffer: Buffer, at: number, value: bigint): void {
  if (value >= 0n) writeU64(buffer, at, value);
  else buffer.writeBigInt64LE(value, at);
}

/**
 * Encodes one accepted request's telemetry as a v2 record. Throws (RangeError) on a value the layout
 * cannot hold: a string over 65,535 UTF-8 bytes, a vector over 65,535 entries, a 64-bit value out of
 * range; uint64 values above 2^63-1 are written as they are and the sink rejects the record.
 */
export function encodeTelemetry(request: TelemetrySource, context: TelemetrySourceContext): Buffer {
  const strings: string[] = [context.agreementId ?? '', context.keyFingerprint, context.ingressInstance];
  for (const key of REQUEST_STRING_SOURCE) strings.push(request[key] as string);
  const lengths: number[] = [];
  let stringBytes = 0;
  for (const s of strings) {
    const n = Buffer.byteLength(s, 'utf8');
    lengths.push(n);
    stringBytes += n;
  }
  const cpuid = request.cpuid;
  const affinity = request.cpuAffinity;
  const buffer = Buffer.allocUnsafe(STRINGS_AT + stringBytes + 4 * (cpuid.length + affinity.length));
  buffer[0] = TELEMETRY_V2_MARKER;
  buffer[1] = TELEMETRY_V2_VERSION;
  buffer[2] = TELEMETRY_DECISIONS.indexOf(context.decision);
  buffer[3] = context.agreementId === null ? 0 : 1;
  let flags = request.isUat ? 1 : 0;
  FEATURE_SOURCE.forEach((key, i) => {
    if (request[key]) flags |= 2 << i;
  });
  buffer.writeUInt16LE(flags, 4);
  buffer.writeUInt16LE(0, 6);
  writeI64(buffer, I64_AT, context.receivedTimeNs);
  writeI64(buffer, I64_AT + 8, request.requestTimeUtc);
  writeI64(buffer, I64_AT + 16, request.tokenExpiryTimeUtc);
  writeI64(buffer, I64_AT + 24, request.processStartTimeUtc);
  for (let i = 0; i < U64_SOURCE.length; i++) writeU64(buffer, U64_AT + 8 * i, request[U64_SOURCE[i] as SourceKey] as bigint);
  for (let i = 0; i < CUMULATIVE_SOURCE.length; i++) writeU64(buffer, CUMULATIVE_AT + 8 * i, request[CUMULATIVE_SOURCE[i] as SourceKey] as bigint);
  if (request.nonce.byteLength !== 16 || request.configHash.byteLength !== 32) throw new RangeError('nonce must be 16 bytes and config_hash 32');
  buffer.set(request.nonce, NONCE_AT);
  buffer.set(request.configHash, CONFIG_HASH_AT);
  let at = STRINGS_AT;
  for (let i = 0; i < strings.length; i++) {
    buffer.writeUInt16LE(lengths[i] as number, LENGTHS_AT + 2 * i);
    at += buffer.write(strings[i] as string, at, 'utf8');
  }
  buffer.writeUInt16LE(cpuid.length, COUNTS_AT);
  buffer.writeUInt16LE(affinity.length, COUNTS_AT + 2);
  for (const v of cpuid) at = buffer.writeUInt32LE(v, at);
  for (const v of affinity) at = buffer.writeUInt32LE(v, at);
  return buffer;
}

/** An unsigned 64-bit value (its words) as a decimal string, without BigInt: base 10^6 digits. */
function u64Text(hi: number, lo: number): string {
  if (hi < SAFE_HI) return String(hi * TWO_32 + lo);
  // 2^32 = 4294 * 10^6 + 967296: value = (hi * 4294 + r / 10^6) * 10^6 + r % 10^6 with r = hi * 967296 + lo < 2^53.
  const r = hi * 967296 + lo;
  const high = hi * 4294 + Math.floor(r / 1e6);
  return `${high}${String(r % 1e6).padStart(6, '0')}`;
}

function i64Text(buffer: Buffer, at: number): string {
  const hi = buffer.readInt32LE(at + 4);
  return hi >= 0 ? u64Text(hi, buffer.readUInt32LE(at)) : buffer.readBigInt64LE(at).toString();
}

const fail = (error: string): ParseResult => ({ ok: false, error: `v2: ${error}` });

/** Offset of STRING_FIELDS entry `index` in a validated record. */
function stringStart(buffer: Buffer, index: number): number {
  let at = STRINGS_AT;
  for (let i = 0; i < index; i++) at += buffer.readUInt16LE(LENGTHS_AT + 2 * i);
  return at;
}

function stringAt(buffer: Buffer, index: number): string {
  const at = stringStart(buffer, index);
  return buffer.toString('utf8', at, at + buffer.readUInt16LE(LENGTHS_AT + 2 * index));
}

function u64At(buffer: Buffer, index: number): string {
  const at = U64_AT + 8 * index;
  return u64Text(buffer.readUInt32LE(at + 4), buffer.readUInt32LE(at));
}

function u32sAt(buffer: Buffer, at: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(buffer.readUInt32LE(at + 4 * i));
  return out;
}

/** Bytes a facts key holds before the copied record ranges: is_uat and the agreement presence byte. */
const FACTS_KEY_HEAD = 2;
/** process_start_time_utc and every U64_FIELDS value (all of them session facts). */
const FACTS_FIXED_FROM = I64_AT + 24;
const FACTS_FIXED_LENGTH = CUMULATIVE_AT - FACTS_FIXED_FROM;

/**
 * A validated v2 record, read lazily: what the sink needs for every report (ids, times, counters) is
 * decoded up front; the rest (host facts, mostly) only when asked for, from the record's bytes. Saves
 * ~30 strings a report. Holds the record's buffer (usually a slice of a whole Kafka fetch): keep it
 * only while its batch is processed; factsKeyOf copies what a session cache needs.
 */
class V2Report {
  readonly version = 2 as const;
  constructor(
    private readonly buffer: Buffer,
    private readonly flags: number,
    /** End of the cpu_affinity values: the facts key runs up to here. */
    private readonly vectorsEnd: number,
    readonly agreement_id: string | null,
    readonly session_id: string,
    readonly nonce: string,
    readonly decision: TelemetryDecision,
    readonly package_name: string,
    readonly api: string,
    readonly received_time_utc: string,
    readonly received_at: string,
    readonly request_time_utc: string,
    readonly process_id: string,
    readonly process_start_time_utc: string,
    readonly symbols: string,
    readonly accounts: string,
    readonly users: string,
    readonly cumulative: readonly number[],
    readonly cumulativeBig: readonly bigint[] | undefined,
  ) {}

  get key_fingerprint(): string { return stringAt(this.buffer, 1); }
  get ingress_instance(): string { return stringAt(this.buffer, 2); }
  get package_version(): string { return stringAt(this.buffer, 4); }
  get package_build_host(): string { return stringAt(this.buffer, 5); }
  get hostname(): string { return stringAt(this.buffer, 6); }
  get network_hostname(): string { return stringAt(this.buffer, 7); }
  get machine_id(): string { return stringAt(this.buffer, 8); }
  get machine(): string { return stringAt(this.buffer, 9); }
  get cpu_vendor(): string { return stringAt(this.buffer, 10); }
  get cpu_brand(): string { return stringAt(this.buffer, 11); }
  get kernel_name(): string { return stringAt(this.buffer, 12); }
  get kernel_release(): string { return stringAt(this.buffer, 13); }
  get kernel_version(): string { return stringAt(this.buffer, 14); }
  get service_name(): string { return stringAt(this.buffer, 15); }
  get api_name(): string { return stringAt(this.buffer, 16); }
  get instance(): string { return stringAt(this.buffer, 18); }
  get token_expiry_time_utc(): string { return i64Text(this.buffer, I64_AT + 16); }
  get package_build_number(): string { return u64At(this.buffer, 0); }
  get number_of_processors(): string { return u64At(this.buffer, 1); }
  get cache_line_size(): string { return u64At(this.buffer, 2); }
  get page_size(): string { return u64At(this.buffer, 3); }
  get system_uptime(): string { return u64At(this.buffer, 4); }
  get system_total_memory(): string { return u64At(this.buffer, 5); }
  get system_available_memory(): string { return u64At(this.buffer, 6); }
  get system_total_swap(): string { return u64At(this.buffer, 7); }
  get system_available_swap(): string { return u64At(this.buffer, 8); }
  get process_max_rss(): string { return u64At(this.buffer, 10); }
  get total_symbols(): string { return u64At(this.buffer, 12); }
  get config_hash(): string { return this.buffer.toString('hex', CONFIG_HASH_AT, CONFIG_HASH_AT + 32); }
  get cpuid(): number[] { return u32sAt(this.buffer, this.vectorsEnd - 4 * (this.buffer.readUInt16LE(COUNTS_AT) + this.buffer.readUInt16LE(COUNTS_AT + 2)), this.buffer.readUInt16LE(COUNTS_AT)); }
  get cpu_affinity(): number[] { const count = this.buffer.readUInt16LE(COUNTS_AT + 2); return u32sAt(this.buffer, this.vectorsEnd - 4 * count, count); }
  get is_uat(): boolean { return (this.flags & 1) !== 0; }
  get please_report(): boolean { return (this.flags & 2) !== 0; }
  get please_report_details(): boolean { return (this.flags & 4) !== 0; }
  get download_trades(): boolean { return (this.flags & 8) !== 0; }
  get download_orders(): boolean { return (this.flags & 16) !== 0; }
  get event_log(): boolean { return (this.flags & 32) !== 0; }
  get position_manager(): boolean { return (this.flags & 64) !== 0; }
  get risk_manager(): boolean { return (this.flags & 128) !== 0; }
  get journal(): boolean { return (this.flags & 256) !== 0; }
  get udp_publish(): boolean { return (this.flags & 512) !== 0; }

  /**
   * Every byte the session facts are decoded from (plus a few that are not: ingress_instance, the
   * string lengths): equal keys mean equal facts, so the facts hash need not be recomputed.
   */
  factsKey(): Buffer {
    // Unpooled: a cache keeps keys for long, and a pooled one would keep its whole 8 KiB slab alive.
    const key = Buffer.allocUnsafeSlow(this.factsKeyLength());
    key[0] = this.flags & 1;
    key[1] = this.buffer[3] as number;
    this.buffer.copy(key, FACTS_KEY_HEAD, FACTS_FIXED_FROM, CUMULATIVE_AT);
    this.buffer.copy(key, FACTS_KEY_HEAD + FACTS_FIXED_LENGTH, CONFIG_HASH_AT, this.vectorsEnd);
    return key;
  }

  hasFactsKey(key: Buffer): boolean {
    return (
      key.length === this.factsKeyLength() &&
      key[0] === (this.flags & 1) &&
      key[1] === this.buffer[3] &&
      this.buffer.compare(key, FACTS_KEY_HEAD, FACTS_KEY_HEAD + FACTS_FIXED_LENGTH, FACTS_FIXED_FROM, CUMULATIVE_AT) === 0 &&
      this.buffer.compare(key, FACTS_KEY_HEAD + FACTS_FIXED_LENGTH, key.length, CONFIG_HASH_AT, this.vectorsEnd) === 0
    );
  }

  private factsKeyLength(): number {
    return FACTS_KEY_HEAD + FACTS_FIXED_LENGTH + (this.vectorsEnd - CONFIG_HASH_AT);
  }
}

/**
 * A copy of the bytes a lazily parsed v2 report's session facts come from (undefined for any other
 * report): small, and holds no reference to the record, so a session cache may keep it.
 */
export function factsKeyOf(report: TelemetryReport): Buffer | undefined {
  return report instanceof V2Report ? report.factsKey() : undefined;
}

/** True when the report's facts are those the key was taken from (false when unknown). */
export function hasFactsKey(report: TelemetryReport, key: Buffer): boolean {
  return report instanceof V2Report && report.hasFactsKey(key);
}

/**
 * Parses a v2 record (first byte TELEMETRY_V2_MARKER), validating all of it, into a report whose
 * rarely needed fields are decoded on access (see V2Report). Never throws. The report refers to
 * `buffer`, which must not change afterwards.
 */
export function parseTelemetryV2Lazy(buffer: Buffer): ParseResult {
  const length = buffer.length;
  if (length < STRINGS_AT) return fail(`${length} bytes is shorter than the fixed part (${STRINGS_AT})`);
  if (buffer[0] !== TELEMETRY_V2_MARKER || buffer[1] !== TELEMETRY_V2_VERSION) return fail(`unknown version ${buffer[1] ?? '?'}`);
  const decision = TELEMETRY_DECISIONS[buffer[2] as number];
  if (decision === undefined) return fail(`unknown decision ${buffer[2] ?? '?'}`);
  const presence = buffer[3] as number;
  if (presence > 1) return fail('unknown presence bits');
  const flags = buffer.readUInt16LE(4);
  if (flags >> (1 + FEATURE_FIELDS.length) !== 0 || buffer.readUInt16LE(6) !== 0) return fail('unknown flag bits');

  // Range checks of every uint64 now; their text only for the few read for each report.
  for (let i = 0; i < U64_FIELDS.length; i++) {
    if (buffer.readUInt32LE(U64_AT + 8 * i + 4) >= 0x80000000) return fail(`${U64_FIELDS[i]} exceeds 2^63-1`);
  }
  // Cumulative values as doubles, exact below 2^53; bigint for all of them only when one is not.
  const cumulative = new Array<number>(CUMULATIVE_FIELDS.length);
  let wide = false;
  for (let i = 0; i < CUMULATIVE_FIELDS.length; i++) {
    const at = CUMULATIVE_AT + 8 * i;
    const hi = buffer.readUInt32LE(at + 4);
    if (hi >= 0x80000000) return fail(`${CUMULATIVE_FIELDS[i]} exceeds 2^63-1`);
    if (hi >= SAFE_HI) wide = true;
    cumulative[i] = hi * TWO_32 + buffer.readUInt32LE(at);
  }
  let cumulativeBig: bigint[] | undefined;
  if (wide) {
    cumulativeBig = [];
    for (let i = 0; i < CUMULATIVE_FIELDS.length; i++) cumulativeBig.push(buffer.readBigUInt64LE(CUMULATIVE_AT + 8 * i));
  }

  let end = STRINGS_AT;
  for (let i = 0; i < STRING_FIELDS.length; i++) end += buffer.readUInt16LE(LENGTHS_AT + 2 * i);
  const cpuidCount = buffer.readUInt16LE(COUNTS_AT);
  const affinityCount = buffer.readUInt16LE(COUNTS_AT + 2);
  if (cpuidCount > MAX_U32S || affinityCount > MAX_U32S) return fail(`more than ${MAX_U32S} cpuid or cpu_affinity values`);
  const vectorsEnd = end + 4 * (cpuidCount + affinityCount);
  if (vectorsEnd > length) return fail('strings or vectors run past the end of the record');
  // Valid UTF-8 as a whole and every string starting on a character (not a continuation byte):
  // then each string is valid UTF-8 on its own. No silent U+FFFD replacement.
  if (!isUtf8(buffer.subarray(STRINGS_AT, end))) return fail('strings are not valid UTF-8');
  let at = STRINGS_AT;
  // Where package_name (3) and api (17) start, noted on the way.
  let packageAt = 0;
  let apiAt = 0;
  for (let i = 0; i < STRING_FIELDS.length; i++) {
    const bytes = buffer.readUInt16LE(LENGTHS_AT + 2 * i);
    if (i === 3) packageAt = at;
    else if (i === 17) apiAt = at;
    if (bytes > 0 && ((buffer[at] as number) & 0xc0) === 0x80) return fail(`${STRING_FIELDS[i]} starts inside a character`);
    // At most MAX_STRING bytes is at most MAX_STRING characters; longer ones are counted.
    if (bytes > MAX_STRING && buffer.toString('utf8', at, at + bytes).length > MAX_STRING) return fail(`${STRING_FIELDS[i]} is longer than ${MAX_STRING} characters`);
    at += bytes;
  }
  // PostgreSQL text cannot hold U+0000: such a record could never be stored. In valid UTF-8 only
  // U+0000 has a zero byte.
  const zero = buffer.indexOf(0, STRINGS_AT);
  if (zero !== -1 && zero < end) {
    let field = 0;
    while (stringStart(buffer, field + 1) <= zero) field++;
    return fail(`${STRING_FIELDS[field]} contains U+0000`);
  }
  const agreementBytes = buffer.readUInt16LE(LENGTHS_AT);
  if (presence === 1 ? agreementBytes === 0 : agreementBytes !== 0) return fail('agreement_id presence and length disagree');
  if (buffer.readUInt16LE(LENGTHS_AT + 2) === 0) return fail('key_fingerprint is empty');
  const packageBytes = buffer.readUInt16LE(LENGTHS_AT + 6);
  if (packageBytes === 0) return fail('package_name is empty');

  const receivedTime = i64Text(buffer, I64_AT);
  const processId = u64At(buffer, 9);
  const processStart = i64Text(buffer, I64_AT + 24);
  const sessionAt = end - buffer.readUInt16LE(LENGTHS_AT + 2 * 19);
  const sessionId =
    sessionAt === end ? derivedSessionId(stringAt(buffer, 1), stringAt(buffer, 6), processId, processStart) : buffer.toString('utf8', sessionAt, end);
  const report = new V2Report(
    buffer,
    flags,
    vectorsEnd,
    presence === 1 ? buffer.toString('utf8', STRINGS_AT, STRINGS_AT + agreementBytes) : null,
    sessionId,
    buffer.toString('hex', NONCE_AT, NONCE_AT + 16),
    decision,
    buffer.toString('utf8', packageAt, packageAt + packageBytes),
    buffer.toString('utf8', apiAt, apiAt + buffer.readUInt16LE(LENGTHS_AT + 2 * 17)),
    receivedTime,
    isoFromNsText(receivedTime),
    i64Text(buffer, I64_AT + 8),
    processId,
    processStart,
    u64At(buffer, 11),
    u64At(buffer, 13),
    u64At(buffer, 14),
    cumulative,
    cumulativeBig,
  );
  return { ok: true, report };
}

/** Parses a v2 record (first byte TELEMETRY_V2_MARKER) into a plain report with every field. Never throws. */
export function parseTelemetryV2(buffer: Buffer): ParseResult {
  const parsed = parseTelemetryV2Lazy(buffer);
  return parsed.ok ? { ok: true, report: plainReport(parsed.report) } : parsed;
}

/** Every field of a report as an own property (a lazy report's as read now). */
export function plainReport(r: TelemetryReport): TelemetryReport {
  return {
    version: r.version,
    agreement_id: r.agreement_id,
    key_fingerprint: r.key_fingerprint,
    received_time_utc: r.received_time_utc,
    received_at: r.received_at,
    decision: r.decision,
    ingress_instance: r.ingress_instance,
    request_time_utc: r.request_time_utc,
    token_expiry_time_utc: r.token_expiry_time_utc,
    nonce: r.nonce,
    package_name: r.package_name,
    package_version: r.package_version,
    package_build_number: r.package_build_number,
    package_build_host: r.package_build_host,
    hostname: r.hostname,
    network_hostname: r.network_hostname,
    machine_id: r.machine_id,
    machine: r.machine,
    cpuid: r.cpuid,
    cpu_vendor: r.cpu_vendor,
    cpu_brand: r.cpu_brand,
    number_of_processors: r.number_of_processors,
    cache_line_size: r.cache_line_size,
    page_size: r.page_size,
    kernel_name: r.kernel_name,
    kernel_release: r.kernel_release,
    kernel_version: r.kernel_version,
    system_uptime: r.system_uptime,
    system_total_memory: r.system_total_memory,
    system_available_memory: r.system_available_memory,
    system_total_swap: r.system_total_swap,
    system_available_swap: r.system_available_swap,
    process_id: r.process_id,
    process_start_time_utc: r.process_start_time_utc,
    process_max_rss: r.process_max_rss,
    service_name: r.service_name,
    api_name: r.api_name,
    api: r.api,
    instance: r.instance,
    session_id: r.session_id,
    is_uat: r.is_uat,
    cpu_affinity: r.cpu_affinity,
    symbols: r.symbols,
    total_symbols: r.total_symbols,
    config_hash: r.config_hash,
    accounts: r.accounts,
    users: r.users,
    please_report: r.please_report,
    please_report_details: r.please_report_details,
    download_trades: r.download_trades,
    download_orders: r.download_orders,
    event_log: r.event_log,
    position_manager: r.position_manager,
    risk_manager: r.risk_manager,
    journal: r.journal,
    udp_publish: r.udp_publish,
    cumulative: r.cumulative,
    cumulativeBig: r.cumulativeBig,
  };
}

/** A v1-shaped record (as sampleTelemetryRecord makes) as the TelemetrySource it describes: for tests and benchmarks. */
export function telemetrySourceOf(record: Readonly<Record<string, unknown>>): { request: TelemetrySource; context: TelemetrySourceContext } {
  const big = (field: string): bigint => BigInt(record[field] as string | number);
  const str = (field: string): string => record[field] as string;
  const bytes = (field: string): Uint8Array => Buffer.from(record[field] as string, 'hex');
  const request: Record<string, unknown> = {
    requestTimeUtc: big('request_time_utc'),
    tokenExpiryTimeUtc: big('token_expiry_time_utc'),
    processStartTimeUtc: big('process_start_time_utc'),
    nonce: bytes('nonce'),
    configHash: bytes('config_hash'),
    cpuid: record['cpuid'],
    cpuAffinity: record['cpu_affinity'],
    isUat: record['is_uat'],
  };
  for (const f of STRING_FIELDS.slice(3)) request[camel(f)] = str(f);
  for (const f of U64_FIELDS) request[camel(f)] = big(f);
  for (const f of CUMULATIVE_FIELDS) request[camel(f)] = big(f);
  for (const f of FEATURE_FIELDS) request[camel(f)] = record[f];
  return {
    request: request as unknown as TelemetrySource,
    context: {
      agreementId: record['agreement_id'] as string | null,
      keyFingerprint: str('key_fingerprint'),
      receivedTimeNs: big('received_time_utc'),
      decision: record['decision'] as TelemetryDecision,
      ingressInstance: str('ingress_instance'),
    },
  };
}

/** The v2 record of a v1-shaped record: for tests and benchmarks. */
export function encodeTelemetryRecord(record: Readonly<Record<string, unknown>>): Buffer {
  const { request, context } = telemetrySourceOf(record);
  return encodeTelemetry(request, context);
}
