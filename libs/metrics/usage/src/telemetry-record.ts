import { z } from 'zod';

/**
 * The telemetry record the ingress publishes for each accepted license request
 * (schema `license-ledger/telemetry/v1`, docs/telemetry.md): who and when, then every LicenseRequest
 * field under its wire name — 64-bit integers as decimal strings, byte vectors as lowercase hex,
 * uint32 vectors as arrays of numbers. Validation is strict about every known field: a missing field,
 * a wrong type, an integer out of range or hex of the wrong length or case rejects the record. Fields
 * the v1 schema may add later (it only ever adds) are ignored.
 *
 * An empty `session_id` (the gateway left it out) is replaced by one derived from what identifies the
 * process: `~<key_fingerprint>/<hostname>/<process_id>/<process_start_time_utc>`.
 *
 * 64-bit values are stored in PostgreSQL `bigint`, so unsigned ones above 2^63-1 are rejected too.
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
const str = z.string().max(4096);

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

const shape = {
  schema: z.literal('license-ledger/telemetry/v1'),
  agreement_id: str.min(1).nullable(),
  key_fingerprint: str.min(1),
  received_time_utc: i64,
  decision: z.enum(['granted', 'no_license_agreement', 'no_available_licenses', 'invalid_request']),
  ingress_instance: str,
  request_time_utc: i64,
  token_expiry_time_utc: i64,
  nonce: hex(16),
  package_name: str.min(1),
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

/** Fields turned into bigint after validation (what the sink computes with); other 64-bit fields stay decimal strings. */
const BIGINT_FIELDS = ['received_time_utc', 'request_time_utc', 'process_id', 'process_start_time_utc', ...CUMULATIVE_FIELDS] as const;
type BigintField = (typeof BIGINT_FIELDS)[number];

type Base = z.infer<typeof telemetrySchema>;
/** A validated record: counters, buckets, times and process id as bigint, other 64-bit values as decimal strings. */
export type TelemetryReport = Omit<Base, BigintField | (typeof FEATURE_FIELDS)[number]> &
  Record<BigintField, bigint> &
  Record<(typeof FEATURE_FIELDS)[number], boolean>;

export type ParseResult = { ok: true; report: TelemetryReport } | { ok: false; error: string };

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
const DECISIONS = new Set(['granted', 'no_license_agreement', 'no_available_licenses', 'invalid_request']);
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
      return typeof v === 'string' && v.length <= 4096;
    case 'str1':
      return typeof v === 'string' && v.length >= 1 && v.length <= 4096;
    case 'strOrNull':
      return v === null || (typeof v === 'string' && v.length >= 1 && v.length <= 4096);
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

/** Parses one Kafka message value (UTF-8 JSON). Never throws. */
export function parseTelemetry(value: Buffer | string): ParseResult {
  return parseWith(value, true);
}

/** parseTelemetry through the zod schema alone: the reference the quick check is tested against. */
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
  let report = quick ? quickCheck(json) : undefined;
  if (report === undefined) {
    const parsed = telemetrySchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`);
      return { ok: false, error: issues.join('; ') };
    }
    report = parsed.data as Record<string, unknown>;
  }
  if (report['session_id'] === '') {
    report['session_id'] = `~${String(report['key_fingerprint'])}/${String(report['hostname'])}/${String(report['process_id'])}/${String(report['process_start_time_utc'])}`;
  }
  for (const field of BIGINT_FIELDS) report[field] = BigInt(report[field] as string);
  return { ok: true, report: report as unknown as TelemetryReport };
}
