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

/** What the ingress knows of an accepted request: the LicenseRequest (camelCase, as decoded) and who/when. */
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

/** Parses a v2 record (first byte TELEMETRY_V2_MARKER). Never throws. */
export function parseTelemetryV2(buffer: Buffer): ParseResult {
  const length = buffer.length;
  if (length < STRINGS_AT) return fail(`${length} bytes is shorter than the fixed part (${STRINGS_AT})`);
  if (buffer[0] !== TELEMETRY_V2_MARKER || buffer[1] !== TELEMETRY_V2_VERSION) return fail(`unknown version ${buffer[1] ?? '?'}`);
  const decision = TELEMETRY_DECISIONS[buffer[2] as number];
  if (decision === undefined) return fail(`unknown decision ${buffer[2] ?? '?'}`);
  const presence = buffer[3] as number;
  if (presence > 1) return fail('unknown presence bits');
  const flags = buffer.readUInt16LE(4);
  if (flags >> (1 + FEATURE_FIELDS.length) !== 0 || buffer.readUInt16LE(6) !== 0) return fail('unknown flag bits');

  const u64 = new Array<string>(U64_FIELDS.length);
  for (let i = 0; i < U64_FIELDS.length; i++) {
    const at = U64_AT + 8 * i;
    const hi = buffer.readUInt32LE(at + 4);
    if (hi >= 0x80000000) return fail(`${U64_FIELDS[i]} exceeds 2^63-1`);
    u64[i] = u64Text(hi, buffer.readUInt32LE(at));
  }
  // Cumulative values as doubles, exact below 2^53; bigint for all of them only when one is not.
  const cumulative: number[] = [];
  let wide = false;
  for (let i = 0; i < CUMULATIVE_FIELDS.length; i++) {
    const at = CUMULATIVE_AT + 8 * i;
    const hi = buffer.readUInt32LE(at + 4);
    if (hi >= 0x80000000) return fail(`${CUMULATIVE_FIELDS[i]} exceeds 2^63-1`);
    if (hi >= SAFE_HI) wide = true;
    cumulative.push(hi * TWO_32 + buffer.readUInt32LE(at));
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
  if (end + 4 * (cpuidCount + affinityCount) > length) return fail('strings or vectors run past the end of the record');
  // Valid UTF-8 as a whole and every string starting on a character (not a continuation byte):
  // then each string is valid UTF-8 on its own. No silent U+FFFD replacement.
  if (!isUtf8(buffer.subarray(STRINGS_AT, end))) return fail('strings are not valid UTF-8');
  const whole = buffer.toString('utf8', STRINGS_AT, end);
  const ascii = whole.length === end - STRINGS_AT;
  const strings = new Array<string>(STRING_FIELDS.length);
  let at = STRINGS_AT;
  for (let i = 0; i < STRING_FIELDS.length; i++) {
    const bytes = buffer.readUInt16LE(LENGTHS_AT + 2 * i);
    if (bytes > 0 && ((buffer[at] as number) & 0xc0) === 0x80) return fail(`${STRING_FIELDS[i]} starts inside a character`);
    // ASCII: byte offsets are character offsets, so slicing the one decoded string is enough.
    const s = ascii ? whole.slice(at - STRINGS_AT, at - STRINGS_AT + bytes) : buffer.toString('utf8', at, at + bytes);
    if (s.length > MAX_STRING) return fail(`${STRING_FIELDS[i]} is longer than ${MAX_STRING} characters`);
    strings[i] = s;
    at += bytes;
  }
  // PostgreSQL text cannot hold U+0000: such a record could never be stored.
  if (whole.includes('\u0000')) return fail(`${STRING_FIELDS[strings.findIndex((s) => s.includes('\u0000'))]} contains U+0000`);
  const [agreementId, keyFingerprint, ingressInstance, packageName] = strings as [string, string, string, string];
  if (presence === 1 ? agreementId === '' : agreementId !== '') return fail('agreement_id presence and length disagree');
  if (keyFingerprint === '') return fail('key_fingerprint is empty');
  if (packageName === '') return fail('package_name is empty');
  const cpuid: number[] = [];
  for (let i = 0; i < cpuidCount; i++, at += 4) cpuid.push(buffer.readUInt32LE(at));
  const cpuAffinity: number[] = [];
  for (let i = 0; i < affinityCount; i++, at += 4) cpuAffinity.push(buffer.readUInt32LE(at));

  const receivedTime = i64Text(buffer, I64_AT);
  const processId = u64[9] as string;
  const processStart = i64Text(buffer, I64_AT + 24);
  const hostname = strings[6] as string;
  const sessionId = strings[19] === '' ? derivedSessionId(keyFingerprint, hostname, processId, processStart) : (strings[19] as string);
  const report: TelemetryReport = {
    version: 2,
    agreement_id: presence === 1 ? agreementId : null,
    key_fingerprint: keyFingerprint,
    received_time_utc: receivedTime,
    received_at: isoFromNsText(receivedTime),
    decision,
    ingress_instance: ingressInstance,
    request_time_utc: i64Text(buffer, I64_AT + 8),
    token_expiry_time_utc: i64Text(buffer, I64_AT + 16),
    nonce: buffer.toString('hex', NONCE_AT, NONCE_AT + 16),
    package_name: packageName,
    package_version: strings[4] as string,
    package_build_number: u64[0] as string,
    package_build_host: strings[5] as string,
    hostname,
    network_hostname: strings[7] as string,
    machine_id: strings[8] as string,
    machine: strings[9] as string,
    cpuid,
    cpu_vendor: strings[10] as string,
    cpu_brand: strings[11] as string,
    number_of_processors: u64[1] as string,
    cache_line_size: u64[2] as string,
    page_size: u64[3] as string,
    kernel_name: strings[12] as string,
    kernel_release: strings[13] as string,
    kernel_version: strings[14] as string,
    system_uptime: u64[4] as string,
    system_total_memory: u64[5] as string,
    system_available_memory: u64[6] as string,
    system_total_swap: u64[7] as string,
    system_available_swap: u64[8] as string,
    process_id: processId,
    process_start_time_utc: processStart,
    process_max_rss: u64[10] as string,
    service_name: strings[15] as string,
    api_name: strings[16] as string,
    api: strings[17] as string,
    instance: strings[18] as string,
    session_id: sessionId,
    is_uat: (flags & 1) !== 0,
    cpu_affinity: cpuAffinity,
    symbols: u64[11] as string,
    total_symbols: u64[12] as string,
    config_hash: buffer.toString('hex', CONFIG_HASH_AT, CONFIG_HASH_AT + 32),
    accounts: u64[13] as string,
    users: u64[14] as string,
    please_report: (flags & 2) !== 0,
    please_report_details: (flags & 4) !== 0,
    download_trades: (flags & 8) !== 0,
    download_orders: (flags & 16) !== 0,
    event_log: (flags & 32) !== 0,
    position_manager: (flags & 64) !== 0,
    risk_manager: (flags & 128) !== 0,
    journal: (flags & 256) !== 0,
    udp_publish: (flags & 512) !== 0,
    cumulative,
    cumulativeBig,
  };
  return { ok: true, report };
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
