import { CUMULATIVE_FIELDS, FEATURE_FIELDS, TELEMETRY_DECISIONS } from '../telemetry-fields';
import { telemetryInputOf } from '../telemetry-json';
import { V2_LAYOUT as L } from './legacy-telemetry';

/**
 * REMOVE AFTER 2026-12-08, with legacy-telemetry.ts. Writes a v2 record as the release before
 * version 3 published it, from JSON values (as sampleTelemetryRecord makes): for the legacy reader's
 * tests and bench-parse. legacy-telemetry.spec.ts holds it to bytes that release wrote.
 */
export function encodeLegacyV2(json: Readonly<Record<string, unknown>>): Buffer {
  const result = telemetryInputOf(json);
  if (!result.ok) throw new RangeError(result.error);
  const input = result.input;
  const strings = L.STRINGS.map((name) => Buffer.from(name === 'agreement_id' ? (input.agreement_id ?? '') : input[name], 'utf8'));
  const vectors = [...input.cpuid, ...input.cpu_affinity];
  const b = Buffer.alloc(L.STRINGS_AT + strings.reduce((n, s) => n + s.length, 0) + 4 * vectors.length);
  b[1] = 2;
  b[2] = TELEMETRY_DECISIONS.indexOf(input.decision);
  b[3] = input.agreement_id === null ? 0 : 1;
  b.writeUInt16LE(FEATURE_FIELDS.reduce((flags, name, i) => flags | (input[name] ? 2 << i : 0), input.is_uat ? 1 : 0), 4);
  L.I64.forEach((name, i) => b.writeBigInt64LE(BigInt(input[name]), 8 + 8 * i));
  L.U64.forEach((name, i) => b.writeBigUInt64LE(BigInt(input[name]), L.U64_AT + 8 * i));
  CUMULATIVE_FIELDS.forEach((name, i) => b.writeBigUInt64LE(BigInt(input[name]), L.CUMULATIVE_AT + 8 * i));
  b.set(input.nonce, L.NONCE_AT);
  b.set(input.config_hash, L.CONFIG_HASH_AT);
  b.writeUInt16LE(input.cpuid.length, L.COUNTS_AT);
  b.writeUInt16LE(input.cpu_affinity.length, L.COUNTS_AT + 2);
  let at = L.STRINGS_AT;
  strings.forEach((s, i) => {
    b.writeUInt16LE(s.length, L.LENGTHS_AT + 2 * i);
    at += s.copy(b, at);
  });
  for (const v of vectors) at = b.writeUInt32LE(v, at);
  return b;
}
