import { isUtf8 } from 'node:buffer';
import { CUMULATIVE_FIELDS, FEATURE_FIELDS, TELEMETRY_DECISIONS } from '../telemetry-fields';
import { telemetryInputOf } from '../telemetry-json';
import { encodeTelemetryInput, type TelemetryInput } from '../telemetry-writer';

/**
 * REMOVE AFTER 2026-12-08 (with its spec and the call in telemetry-parse.ts): reads the telemetry
 * formats published before version 3, which the topic's 7-day retention keeps until 7 days after
 * the release that stopped publishing them (2026-12-01). Each is translated into a version 3 record,
 * which the one reader then validates (telemetry-reader.ts): this file knows only the old layouts.
 *
 * - v1: UTF-8 JSON (`"schema": "license-ledger/telemetry/v1"`), every field under its name as in
 *   telemetry-json.ts; fields added later are ignored.
 * - v2: a fixed little-endian layout starting 0x00 0x02 (docs/telemetry.md of that release):
 *   0 marker, 1 version, 2 decision, 3 agreement presence, 4 u16 flags (bit 0 is_uat, then the
 *   features), 6 u16 reserved; 8 i64 × 4, 40 u64 × 15, 160 u64 × 22 (the cumulative values),
 *   336 nonce, 352 config_hash, 384 u16 × 20 string lengths, 424 u16 × 2 vector counts, 428 the
 *   strings back to back, then cpuid and cpu_affinity as u32s. Later bytes are ignored.
 */
export type LegacyTranslation = { ok: true; record: Buffer; version: 1 | 2 } | { ok: false; error: string };

const V2_I64 = ['received_time_utc', 'request_time_utc', 'token_expiry_time_utc', 'process_start_time_utc'] as const;
const V2_U64 = [
  'package_build_number', 'number_of_processors', 'cache_line_size', 'page_size', 'system_uptime', 'system_total_memory', 'system_available_memory',
  'system_total_swap', 'system_available_swap', 'process_id', 'process_max_rss', 'symbols', 'total_symbols', 'accounts', 'users',
] as const;
const V2_STRINGS = [
  'agreement_id', 'key_fingerprint', 'ingress_instance', 'package_name', 'package_version', 'package_build_host', 'hostname', 'network_hostname',
  'machine_id', 'machine', 'cpu_vendor', 'cpu_brand', 'kernel_name', 'kernel_release', 'kernel_version', 'service_name', 'api_name', 'api', 'instance', 'session_id',
] as const;
// v2 held the 22 cumulative values and 9 features in today's order (they have not changed since).
if (CUMULATIVE_FIELDS.length !== 22 || FEATURE_FIELDS.length !== 9) throw new Error('legacy telemetry: v2 layout no longer matches the field list');
const U64_AT = 8 + 8 * V2_I64.length;
const CUMULATIVE_AT = U64_AT + 8 * V2_U64.length;
const NONCE_AT = CUMULATIVE_AT + 8 * 22;
const CONFIG_HASH_AT = NONCE_AT + 16;
const LENGTHS_AT = CONFIG_HASH_AT + 32;
const COUNTS_AT = LENGTHS_AT + 2 * V2_STRINGS.length;
const STRINGS_AT = COUNTS_AT + 4;
const MAX_U32S = 1024;
/** The v2 layout, for the writer its tests use (legacy-v2-writer.ts). */
export const V2_LAYOUT = { I64: V2_I64, U64: V2_U64, STRINGS: V2_STRINGS, U64_AT, CUMULATIVE_AT, NONCE_AT, CONFIG_HASH_AT, LENGTHS_AT, COUNTS_AT, STRINGS_AT } as const;

/** A v1 or v2 record as a version 3 one; anything else is an error. Never throws. */
export function translateLegacyTelemetry(value: Buffer | string): LegacyTranslation {
  if (typeof value !== 'string' && value.length > 0 && value[0] === 0x00) return translateV2(value);
  return translateV1(value);
}

function translateV1(value: Buffer | string): LegacyTranslation {
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (error) {
    return { ok: false, error: `v1: not JSON: ${(error as Error).message}` };
  }
  if ((json as { schema?: unknown } | null)?.schema !== 'license-ledger/telemetry/v1') return { ok: false, error: 'v1: schema is not "license-ledger/telemetry/v1"' };
  const input = telemetryInputOf(json);
  return input.ok ? written(input.input, 1) : { ok: false, error: `v1: ${input.error}` };
}

function translateV2(b: Buffer): LegacyTranslation {
  const fail = (error: string): LegacyTranslation => ({ ok: false, error: `v2: ${error}` });
  if (b.length < STRINGS_AT) return fail(`${b.length} bytes is shorter than the fixed part (${STRINGS_AT})`);
  if (b[1] !== 2) return fail(`unknown version ${b[1]}`);
  const decision = TELEMETRY_DECISIONS[b[2] as number];
  if (decision === undefined) return fail(`unknown decision ${b[2]}`);
  const presence = b[3] as number;
  if (presence > 1) return fail('unknown presence bits');
  const flags = b.readUInt16LE(4);
  if (flags >> (1 + FEATURE_FIELDS.length) !== 0 || b.readUInt16LE(6) !== 0) return fail('unknown flag bits');
  const input: Record<string, unknown> = { decision, nonce: b.subarray(NONCE_AT, NONCE_AT + 16), config_hash: b.subarray(CONFIG_HASH_AT, CONFIG_HASH_AT + 32), is_uat: (flags & 1) !== 0 };
  FEATURE_FIELDS.forEach((name, i) => (input[name] = (flags & (2 << i)) !== 0));
  V2_I64.forEach((name, i) => (input[name] = int64At(b, 8 + 8 * i)));
  V2_U64.forEach((name, i) => (input[name] = uint64At(b, U64_AT + 8 * i)));
  CUMULATIVE_FIELDS.forEach((name, i) => (input[name] = uint64At(b, CUMULATIVE_AT + 8 * i)));
  let at = STRINGS_AT;
  for (let i = 0; i < V2_STRINGS.length; i++) {
    const end = at + b.readUInt16LE(LENGTHS_AT + 2 * i);
    if (end > b.length) return fail('strings or vectors run past the end of the record');
    if (!isUtf8(b.subarray(at, end))) return fail(`${V2_STRINGS[i]} is not valid UTF-8`);
    input[V2_STRINGS[i] as string] = b.toString('utf8', at, end);
    at = end;
  }
  if ((presence === 1) === (input['agreement_id'] === '')) return fail('agreement_id presence and length disagree');
  if (presence === 0) input['agreement_id'] = null;
  const cpuidCount = b.readUInt16LE(COUNTS_AT);
  const affinityCount = b.readUInt16LE(COUNTS_AT + 2);
  if (cpuidCount > MAX_U32S || affinityCount > MAX_U32S) return fail(`more than ${MAX_U32S} cpuid or cpu_affinity values`);
  if (at + 4 * (cpuidCount + affinityCount) > b.length) return fail('strings or vectors run past the end of the record');
  const u32s = (count: number): number[] => Array.from({ length: count }, () => ((at += 4), b.readUInt32LE(at - 4)));
  input['cpuid'] = u32s(cpuidCount);
  input['cpu_affinity'] = u32s(affinityCount);
  return written(input as TelemetryInput, 2);
}

// 64-bit values as safe integers where they are (BigInt costs more than the rest of the translation).
const SAFE_HIGH_WORD = 0x200000;
function uint64At(b: Buffer, at: number): number | bigint {
  const hi = b.readUInt32LE(at + 4);
  return hi < SAFE_HIGH_WORD ? hi * 4294967296 + b.readUInt32LE(at) : b.readBigUInt64LE(at);
}
function int64At(b: Buffer, at: number): number | bigint {
  const hi = b.readInt32LE(at + 4);
  return hi < SAFE_HIGH_WORD && hi >= -SAFE_HIGH_WORD ? hi * 4294967296 + b.readUInt32LE(at) : b.readBigInt64LE(at);
}

function written(input: TelemetryInput, version: 1 | 2): LegacyTranslation {
  try {
    return { ok: true, record: encodeTelemetryInput(input), version };
  } catch (error) {
    return { ok: false, error: `v${version}: ${(error as Error).message}` };
  }
}
