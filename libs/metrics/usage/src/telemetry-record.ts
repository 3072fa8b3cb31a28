import { z } from 'zod';

/**
 * Version 1 of the telemetry record (schema `license-ledger/telemetry/v1`, UTF-8 JSON; docs/telemetry.md),
 * still read for records published before version 2 (telemetry-binary.ts): who and when, then every LicenseRequest
 * field under its wire name — 64-bit integers as decimal strings, byte vectors as lowercase hex,
 * uint32 vectors as arrays of numbers. Validation is strict about every known field: a missing field,
 * a wrong type, an integer out of range or hex of the wrong length or case rejects the record. Fields
 * the v1 schema may add later (it only ever adds) are ignored.
 *
 * An empty `session_id` (the gateway left it out) is replaced by one derived from what identifies the
 * process: `~<key_fingerprint>/<hostname>/<process_id>/<process_start_time_utc>`.
 *
 * 64-bit values are stored in PostgreSQL `bigint`, so unsigned ones above 2^63-1 are rejected too; text
 * cannot hold U+0000, so strings containing it are rejected.
 */
const INT64_MAX = '9223372036854775807';
const INT64_MIN_ABS = '9223372036854775808';

// Decimal strings checked by regex and, at 19 digits, by comparing with the int64 limit as text
// (same length, so text order is numeric order): no BigInt while validating, which keeps zod fast.
const u64 = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, 'unsigned decimal string')
  .refine((s) => s.length < 19 || s <= INT64_MAX, 'exceeds 2^63-1');
const i64 = z
  .string()
  .regex(/^(0|-?[1-9][0-9]{0,18})$/, 'signed decimal string')
  .refine((s) => (s.startsWith('-') ? s.length < 20 || s <= `-${INT64_MIN_ABS}` : s.length < 19 || s <= INT64_MAX), 'out of int64 range');
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes as lowercase hex`);
const u32s = z.array(z.number().int().min(0).max(0xffffffff)).max(1024);
// PostgreSQL text (and jsonb) cannot hold U+0000: such a record would fail its batch forever.
/**
 * PostgreSQL stores neither U+0000 nor unpaired UTF-16 surrogates (JSON "\ud800"): a record holding
 * one would fail its batch on every redelivery, so it is malformed.
 */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storable = (s: string): boolean => !UNSTORABLE.test(s);

const str = z.string().max(4096).refine(storable, 'contains U+0000 or a lone surrogate');

export const COUNTER_FIELDS = ['create_order', 'modify_order', 'cancel_order', 'cancel_all_orders', 'mass_quote', 'cancel_quotes'] as const;
export const FEATURE_FIELDS = [
  'please_report',
  'please_report_details',
  'download_trades',
  'download_orders',
  'event_log',
  'position_manager',
  'risk_manager',
  'journal',
  'udp_publish',
] as const;
export const INTERNAL_BUCKETS = ['500ns', '1us', '2us', '5us', '10us', '20us', 'inf'] as const;
export const EXTERNAL_BUCKETS = ['10us', '100us', '1ms', '10ms', '100ms', '1s', 'inf'] as const;
/** Upper bounds of the buckets in nanoseconds (the last one is +Inf). */
export const INTERNAL_BOUNDS_NS = [500, 1_000, 2_000, 5_000, 10_000, 20_000, Number.POSITIVE_INFINITY] as const;
export const EXTERNAL_BOUNDS_NS = [10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, Number.POSITIVE_INFINITY] as const;

/** Every cumulative value of a report, in a fixed order: counters, then internal sum + buckets, then external sum + buckets. */
export const CUMULATIVE_FIELDS = [
  ...COUNTER_FIELDS,
  'internal_latency_sum',
  ...INTERNAL_BUCKETS.map((b) => `internal_latency_count_${b}` as const),
  'external_latency_sum',
  ...EXTERNAL_BUCKETS.map((b) => `external_latency_count_${b}` as const),
] as const;
export type CumulativeField = (typeof CUMULATIVE_FIELDS)[number];
export type FeatureField = (typeof FEATURE_FIELDS)[number];
/** Index of the first histogram value (internal_latency_sum) in CUMULATIVE_FIELDS; the rest are histograms too. */
export const HISTOGRAM_START = COUNTER_FIELDS.length;

export const TELEMETRY_DECISIONS = ['granted', 'no_license_agreement', 'no_available_licenses', 'invalid_request'] as const;
export type TelemetryDecision = (typeof TELEMETRY_DECISIONS)[number];

const shape = {
  schema: z.literal('license-ledger/telemetry/v1'),
  agreement_id: z.string().min(1).max(4096).refine(storable, 'contains U+0000 or a lone surrogate').nullable(),
  key_fingerprint: z.string().min(1).max(4096).refine(storable, 'contains U+0000 or a lone surrogate'),
  received_time_utc: i64,
  decision: z.enum(['granted', 'no_license_agreement', 'no_available_licenses', 'invalid_request']),
  ingress_instance: str,
  request_time_utc: i64,
  token_expiry_time_utc: i64,
  nonce: hex(16),
  package_name: z.string().min(1).max(4096).refine(storable, 'contains U+0000 or a lone surrogate'),
  package_version: str,
  package_build_number: u64,
  package_build_host: str,
  hostname: str,
  network_hostname: str,
  machine_id: str,
  machine: str,
  cpuid: u32s,
  cpu_vendor: str,
  cpu_brand: str,
  number_of_processors: u64,
  cache_line_size: u64,
  page_size: u64,
  kernel_name: str,
  kernel_release: str,
  kernel_version: str,
  system_uptime: u64,
  system_total_memory: u64,
  system_available_memory: u64,
  system_total_swap: u64,
  system_available_swap: u64,
  process_id: u64,
  process_start_time_utc: i64,
  process_max_rss: u64,
  service_name: str,
  api_name: str,
  api: str,
  instance: str,
  session_id: str,
  is_uat: z.boolean(),
  cpu_affinity: u32s,
  symbols: u64,
  total_symbols: u64,
  config_hash: hex(32),
  accounts: u64,
  users: u64,
  ...Object.fromEntries(COUNTER_FIELDS.map((f) => [f, u64])),
  ...Object.fromEntries(FEATURE_FIELDS.map((f) => [f, z.boolean()])),
  internal_latency_sum: u64,
  ...Object.fromEntries(INTERNAL_BUCKETS.map((b) => [`internal_latency_count_${b}`, u64])),
  external_latency_sum: u64,
  ...Object.fromEntries(EXTERNAL_BUCKETS.map((b) => [`external_latency_count_${b}`, u64])),
} as const;

const telemetrySchema = z.object(shape);

/**
 * A validated record, of either version: every field under its wire name, 64-bit values as canonical
 * decimal strings, byte vectors as lowercase hex, `received_at` the received time as ISO 8601 with
 * microseconds (PostgreSQL's precision). The cumulative values (CUMULATIVE_FIELDS order) are doubles in
 * `cumulative`, exact because each is checked to be below 2^53; when one is not, `cumulativeBig` holds
 * all of them exactly and `cumulative` is only approximate.
 */
export type TelemetryReport = {
  readonly version: 1 | 2;
  readonly agreement_id: string | null;
  readonly key_fingerprint: string;
  readonly received_time_utc: string;
  readonly received_at: string;
  readonly decision: TelemetryDecision;
  readonly ingress_instance: string;
  readonly request_time_utc: string;
  readonly token_expiry_time_utc: string;
  readonly nonce: string;
  readonly package_name: string;
  readonly package_version: string;
  readonly package_build_number: string;
  readonly package_build_host: string;
  readonly hostname: string;
  readonly network_hostname: string;
  readonly machine_id: string;
  readonly machine: string;
  readonly cpuid: readonly number[];
  readonly cpu_vendor: string;
  readonly cpu_brand: string;
  readonly number_of_processors: string;
  readonly cache_line_size: string;
  readonly page_size: string;
  readonly kernel_name: string;
  readonly kernel_release: string;
  readonly kernel_version: string;
  readonly system_uptime: string;
  readonly system_total_memory: string;
  readonly system_available_memory: string;
  readonly system_total_swap: string;
  readonly system_available_swap: string;
  readonly process_id: string;
  readonly process_start_time_utc: string;
  readonly process_max_rss: string;
  readonly service_name: string;
  readonly api_name: string;
  readonly api: string;
  readonly instance: string;
  readonly session_id: string;
  readonly is_uat: boolean;
  readonly cpu_affinity: readonly number[];
  readonly symbols: string;
  readonly total_symbols: string;
  readonly config_hash: string;
  readonly accounts: string;
  readonly users: string;
  readonly cumulative: readonly number[];
  readonly cumulativeBig: readonly bigint[] | undefined;
} & Readonly<Record<FeatureField, boolean>>;

export type ParseResult = { ok: true; report: TelemetryReport } | { ok: false; error: string };

/** The session id of a process whose gateway sent none: what identifies the process. */
export const derivedSessionId = (keyFingerprint: string, hostname: string, processId: string, processStartTimeUtc: string): string =>
  `~${keyFingerprint}/${hostname}/${processId}/${processStartTimeUtc}`;

/** ns since the epoch → ISO 8601 with microseconds (rounded down to the microsecond). */
export function nsToIso(ns: bigint): string {
  const us = ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n);
  return isoFromUs(Number(us));
}

// Date formatting is the costly part, and a batch's reports mostly share their second: keep the last one.
let cachedSecond = Number.NaN;
let cachedPrefix = '';
function isoFromUs(us: number): string {
  const second = Math.floor(us / 1e6);
  if (second !== cachedSecond) {
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  return `${cachedPrefix}.${String(us - second * 1e6).padStart(6, '0')}Z`;
}

/** nsToIso of a canonical decimal string; without BigInt while the microseconds fit a double exactly. */
export function isoFromNsText(ns: string): string {
  if (ns.charCodeAt(0) !== 45 /* - */) {
    const us = ns.length > 3 ? Number(ns.slice(0, -3)) : 0;
    // Any value beyond 2^53-1 rounds to one that is not a safe integer: the test below catches it.
    if (Number.isSafeInteger(us)) return isoFromUs(us);
  }
  return nsToIso(BigInt(ns));
}

/** What each known field must be, for the hand-written check below (mirrors `shape`). */
type FieldKind = 'u64' | 'i64' | 'str' | 'str1' | 'strOrNull' | 'bool' | 'u32s' | 'hex16' | 'hex32' | 'schema' | 'decision';
const KINDS: Readonly<Record<string, FieldKind>> = {
  schema: 'schema',
  agreement_id: 'strOrNull',
  key_fingerprint: 'str1',
  received_time_utc: 'i64',
  decision: 'decision',
  ingress_instance: 'str',
  request_time_utc: 'i64',
  token_expiry_time_utc: 'i64',
  nonce: 'hex16',
  package_name: 'str1',
  package_version: 'str',
  package_build_number: 'u64',
  package_build_host: 'str',
  hostname: 'str',
  network_hostname: 'str',
  machine_id: 'str',
  machine: 'str',
  cpuid: 'u32s',
  cpu_vendor: 'str',
  cpu_brand: 'str',
  number_of_processors: 'u64',
  cache_line_size: 'u64',
  page_size: 'u64',
  kernel_name: 'str',
  kernel_release: 'str',
  kernel_version: 'str',
  system_uptime: 'u64',
  system_total_memory: 'u64',
  system_available_memory: 'u64',
  system_total_swap: 'u64',
  system_available_swap: 'u64',
  process_id: 'u64',
  process_start_time_utc: 'i64',
  process_max_rss: 'u64',
  service_name: 'str',
  api_name: 'str',
  api: 'str',
  instance: 'str',
  session_id: 'str',
  is_uat: 'bool',
  cpu_affinity: 'u32s',
  symbols: 'u64',
  total_symbols: 'u64',
  config_hash: 'hex32',
  accounts: 'u64',
  users: 'u64',
  ...Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 'u64' as const])),
  ...Object.fromEntries(FEATURE_FIELDS.map((f) => [f, 'bool' as const])),
  internal_latency_sum: 'u64',
  ...Object.fromEntries(INTERNAL_BUCKETS.map((b) => [`internal_latency_count_${b}`, 'u64' as const])),
  external_latency_sum: 'u64',
  ...Object.fromEntries(EXTERNAL_BUCKETS.map((b) => [`external_latency_count_${b}`, 'u64' as const])),
};
const KNOWN_FIELDS: ReadonlyArray<readonly [string, FieldKind]> = Object.entries(KINDS);
const DECISIONS: ReadonlySet<string> = new Set(TELEMETRY_DECISIONS);
const U64 = /^(0|[1-9][0-9]{0,18})$/;
const I64 = /^(0|-?[1-9][0-9]{0,18})$/;
const HEX16 = /^[0-9a-f]{32}$/;
const HEX32 = /^[0-9a-f]{64}$/;

function fieldOk(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case 'u64':
      return typeof v === 'string' && U64.test(v) && (v.length < 19 || v <= INT64_MAX);
    case 'i64':
      return typeof v === 'string' && I64.test(v) && (v.startsWith('-') ? v.length < 20 || v <= `-${INT64_MIN_ABS}` : v.length < 19 || v <= INT64_MAX);
    case 'str':
      return typeof v === 'string' && v.length <= 4096 && storable(v);
    case 'str1':
      return typeof v === 'string' && v.length >= 1 && v.length <= 4096 && storable(v);
    case 'strOrNull':
      return v === null || (typeof v === 'string' && v.length >= 1 && v.length <= 4096 && storable(v));
    case 'bool':
      return typeof v === 'boolean';
    case 'u32s':
      if (!Array.isArray(v) || v.length > 1024) return false;
      for (const n of v as unknown[]) if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) return false;
      return true;
    case 'hex16':
      return typeof v === 'string' && HEX16.test(v);
    case 'hex32':
      return typeof v === 'string' && HEX32.test(v);
    case 'schema':
      return v === 'license-ledger/telemetry/v1';
    case 'decision':
      return typeof v === 'string' && DECISIONS.has(v);
  }
}

/**
 * The same acceptance as the zod schema, by hand (zod costs ~30 µs a record, most of the sink's
 * CPU): the known fields, copied, when every one is valid; undefined otherwise, and then zod decides
 * and words the error. Never accepts what the schema rejects (usage.spec.ts compares them).
 */
function quickCheck(json: unknown): Record<string, unknown> | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const source = json as Record<string, unknown>;
  for (const [field, kind] of KNOWN_FIELDS) {
    // Own properties only, as zod reads them (JSON.parse makes no inherited ones anyway).
    if (!fieldOk(kind, Object.prototype.hasOwnProperty.call(source, field) ? source[field] : undefined)) return undefined;
  }
  // Every known field is there: as many keys means no others, and the parsed object can be kept.
  if (Object.keys(source).length === KNOWN_FIELDS.length) return source;
  const out: Record<string, unknown> = {};
  for (const [field] of KNOWN_FIELDS) out[field] = source[field];
  return out;
}

/** Parses a v1 record (UTF-8 JSON). Never throws. */
export function parseTelemetryV1(value: Buffer | string): ParseResult {
  return parseWith(value, true);
}

/** parseTelemetryV1 through the zod schema alone: the reference the quick check is tested against. */
export function parseTelemetryBySchema(value: Buffer | string): ParseResult {
  return parseWith(value, false);
}

function parseWith(value: Buffer | string, quick: boolean): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (error) {
    return { ok: false, error: `not JSON: ${(error as Error).message}` };
  }
  let record = quick ? quickCheck(json) : undefined;
  if (record === undefined) {
    const parsed = telemetrySchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`);
      return { ok: false, error: issues.join('; ') };
    }
    record = parsed.data as Record<string, unknown>;
  }
  return { ok: true, report: fromV1(record) };
}

/** Cumulative values of a validated v1 record: doubles, plus bigints when one is beyond 2^53-1. */
function cumulativeOf(r: Readonly<Record<string, unknown>>): { cumulative: number[]; cumulativeBig: bigint[] | undefined } {
  const cumulative: number[] = [];
  let wide = false;
  for (const field of CUMULATIVE_FIELDS) {
    const text = r[field] as string;
    // Up to 15 digits is below 10^15 < 2^53; longer ones are checked exactly.
    if (text.length <= 15) cumulative.push(Number(text));
    else {
      const big = BigInt(text);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) wide = true;
      cumulative.push(Number(big));
    }
  }
  return { cumulative, cumulativeBig: wide ? CUMULATIVE_FIELDS.map((f) => BigInt(r[f] as string)) : undefined };
}

/** The report of a validated v1 record (same shape as a v2 one, so the sink's code stays monomorphic). */
function fromV1(r: Readonly<Record<string, unknown>>): TelemetryReport {
  const s = (field: string): string => r[field] as string;
  const b = (field: FeatureField): boolean => r[field] as boolean;
  const sessionId = s('session_id') === '' ? derivedSessionId(s('key_fingerprint'), s('hostname'), s('process_id'), s('process_start_time_utc')) : s('session_id');
  const { cumulative, cumulativeBig } = cumulativeOf(r);
  return {
    version: 1,
    agreement_id: r['agreement_id'] as string | null,
    key_fingerprint: s('key_fingerprint'),
    received_time_utc: s('received_time_utc'),
    received_at: isoFromNsText(s('received_time_utc')),
    decision: r['decision'] as TelemetryDecision,
    ingress_instance: s('ingress_instance'),
    request_time_utc: s('request_time_utc'),
    token_expiry_time_utc: s('token_expiry_time_utc'),
    nonce: s('nonce'),
    package_name: s('package_name'),
    package_version: s('package_version'),
    package_build_number: s('package_build_number'),
    package_build_host: s('package_build_host'),
    hostname: s('hostname'),
    network_hostname: s('network_hostname'),
    machine_id: s('machine_id'),
    machine: s('machine'),
    cpuid: r['cpuid'] as number[],
    cpu_vendor: s('cpu_vendor'),
    cpu_brand: s('cpu_brand'),
    number_of_processors: s('number_of_processors'),
    cache_line_size: s('cache_line_size'),
    page_size: s('page_size'),
    kernel_name: s('kernel_name'),
    kernel_release: s('kernel_release'),
    kernel_version: s('kernel_version'),
    system_uptime: s('system_uptime'),
    system_total_memory: s('system_total_memory'),
    system_available_memory: s('system_available_memory'),
    system_total_swap: s('system_total_swap'),
    system_available_swap: s('system_available_swap'),
    process_id: s('process_id'),
    process_start_time_utc: s('process_start_time_utc'),
    process_max_rss: s('process_max_rss'),
    service_name: s('service_name'),
    api_name: s('api_name'),
    api: s('api'),
    instance: s('instance'),
    session_id: sessionId,
    is_uat: r['is_uat'] as boolean,
    cpu_affinity: r['cpu_affinity'] as number[],
    symbols: s('symbols'),
    total_symbols: s('total_symbols'),
    config_hash: s('config_hash'),
    accounts: s('accounts'),
    users: s('users'),
    please_report: b('please_report'),
    please_report_details: b('please_report_details'),
    download_trades: b('download_trades'),
    download_orders: b('download_orders'),
    event_log: b('event_log'),
    position_manager: b('position_manager'),
    risk_manager: b('risk_manager'),
    journal: b('journal'),
    udp_publish: b('udp_publish'),
    cumulative,
    cumulativeBig,
  };
}
