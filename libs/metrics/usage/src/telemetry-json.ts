import { specOf, TELEMETRY_DECISIONS, TELEMETRY_FIELDS } from './telemetry-fields';
import { encodeTelemetryInput, type TelemetryInput } from './telemetry-writer';

/**
 * A record's fields as JSON values, under their names: 64-bit integers as decimal strings, bytes as
 * lowercase hex, uint32 vectors as arrays of numbers (the form of the version 1 records, and of the
 * samples tests and benchmarks write). Checked here only as far as writing needs: what a record may
 * hold is the reader's to decide, once the values are written (telemetry-reader.ts).
 */
export type JsonResult = { ok: true; input: TelemetryInput } | { ok: false; error: string };

const SIGNED = /^(0|-?[1-9][0-9]{0,18})$/;
const UNSIGNED = /^(0|[1-9][0-9]{0,19})$/;
const HEX = /^(?:[0-9a-f]{2})*$/;
// A lone UTF-16 surrogate would be written as U+FFFD: the record would no longer say what was sent.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const DECISIONS: ReadonlySet<unknown> = new Set(TELEMETRY_DECISIONS);

function convert(field: (typeof TELEMETRY_FIELDS)[number], value: unknown): { value: unknown } | string {
  switch (field.type) {
    case 'i64': {
      if (typeof value !== 'string' || !SIGNED.test(value)) return 'expected a signed decimal string';
      // Up to 15 digits is a safe integer: no BigInt.
      if (value.length <= 15) return { value: Number(value) };
      const big = BigInt(value);
      return big < INT64_MIN || big > INT64_MAX ? 'out of int64 range' : { value: big };
    }
    case 'u64': {
      if (typeof value !== 'string' || !UNSIGNED.test(value)) return 'expected an unsigned decimal string';
      if (value.length <= 15) return { value: Number(value) };
      const big = BigInt(value);
      return big > UINT64_MAX ? 'out of uint64 range' : { value: big };
    }
    case 'bool':
      return typeof value === 'boolean' ? { value } : 'expected true or false';
    case 'decision':
      return DECISIONS.has(value) ? { value } : `expected one of ${TELEMETRY_DECISIONS.join(', ')}`;
    case 'str':
      if (value === null && specOf(field).nullable) return { value };
      if (typeof value !== 'string') return 'expected a string';
      return LONE_SURROGATE.test(value) ? 'contains a lone UTF-16 surrogate' : { value };
    case 'bytes':
      return typeof value === 'string' && HEX.test(value) ? { value: Buffer.from(value, 'hex') } : 'expected lowercase hex';
    case 'u32s':
      if (!Array.isArray(value)) return 'expected an array of uint32 values';
      for (const n of value as unknown[]) if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) return 'expected an array of uint32 values';
      return { value };
    default: {
      const unknown: never = field;
      throw new Error(`unknown field type of ${JSON.stringify(unknown)}`);
    }
  }
}

/** The values to write for the fields of `json` (other properties are ignored). */
export function telemetryInputOf(json: unknown): JsonResult {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, error: 'not a JSON object' };
  const source = json as Record<string, unknown>;
  const input: Record<string, unknown> = {};
  for (const field of TELEMETRY_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(source, field.name)) return { ok: false, error: `${field.name} is missing` };
    const converted = convert(field, source[field.name]);
    if (typeof converted === 'string') return { ok: false, error: `${field.name}: ${converted}` };
    input[field.name] = converted.value;
  }
  return { ok: true, input: input as TelemetryInput };
}

/** The version 3 record of JSON values (as sampleTelemetryRecord makes): for tests and benchmarks. Throws on values it cannot write. */
export function encodeTelemetryRecord(json: Readonly<Record<string, unknown>>): Buffer {
  const result = telemetryInputOf(json);
  if (!result.ok) throw new RangeError(result.error);
  return encodeTelemetryInput(result.input);
}
