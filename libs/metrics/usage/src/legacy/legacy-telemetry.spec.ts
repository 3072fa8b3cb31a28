import { cumulativeBuckets, sampleTelemetryRecord } from '../sample-record';
import { TELEMETRY_FIELDS } from '../telemetry-fields';
import { encodeTelemetryRecord } from '../telemetry-json';
import { parseTelemetry } from '../telemetry-parse';
import { plainReport, type TelemetryReport } from '../telemetry-reader';
import { encodeLegacyV2 } from './legacy-v2-writer';

// REMOVE AFTER 2026-12-08, with legacy-telemetry.ts.

const read = (value: Buffer | string): TelemetryReport => {
  const parsed = parseTelemetry(value);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.report;
};
const v1 = (overrides: Record<string, unknown> = {}): string => JSON.stringify(sampleTelemetryRecord(overrides));
const v2 = (overrides: Record<string, unknown> = {}): Buffer => encodeLegacyV2(sampleTelemetryRecord(overrides));
/** The report of the version 3 record of the same values, as the legacy version would report it. */
const current = (version: 1 | 2, overrides: Record<string, unknown> = {}) => ({ ...plainReport(read(encodeTelemetryRecord(sampleTelemetryRecord(overrides)))), version });

const VARIANTS: Array<Record<string, unknown>> = [
  {},
  { agreement_id: null, decision: 'no_license_agreement', session_id: '', cpuid: [], cpu_affinity: [0, 4294967295], is_uat: true, journal: true },
  { hostname: 'gw-ü-€-😀', package_version: '', users: '9223372036854775807', received_time_utc: '-5', request_time_utc: '-9223372036854775808' },
  { ...cumulativeBuckets('external', [1, 2, 3, 4, 5, 6, 7], 123456789), create_order: '9007199254740992', system_uptime: '9007199254740993' },
];

// What the release before version 3 published for sampleTelemetryRecord({}) and for VARIANTS' second
// and third entries combined (its encodeTelemetryRecord, base64).
const V2_WRITTEN: Array<[Record<string, unknown>, string]> = [
  [
    {},
    'AAIAAagAAAAAgNNb/R7pGACA01v9HukYAMBEvYkl6RgA4GAN5RXpGGcSAAAAAAAAEAAAAAAAAABAAAAAAAAAAAAQAAAAAAAAgFEBAAAAAAAAAAAAEAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAJIQAAAAAAAAAABABgAAAAB4AAAAAAAAAIgTAAAAAAAAAgAAAAAAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABEiM0RVZneImaq7zN3u/6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urBAAHAAkACwAGAAgABAAMACAABgAMABAABQAFAAYAEAAHAAUABgAJAAgAAgBhY21lZnAtMDAwMWluZ3Jlc3MtMWZpeC1nYXRld2F5My4xNC4yYnVpbGQtMDdndy0xZ3ctMS5leGFtcGxlMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWZ4ODZfNjRHZW51aW5lSW50ZWxJbnRlbChSKSBYZW9uKFIpTGludXg2LjguMCMxIFNNUGZpeC1nYXRld2F5QHhldGFGSVggNC40Zml4NDRwcm9kLWFzZXNzaW9uLTENAAAAR2VudW50ZWxpbmVJ8AYJAAAIEAK/+/p///vrvwIAAAADAAAA',
  ],
  [
    { agreement_id: null, decision: 'no_license_agreement', session_id: '', cpuid: [], cpu_affinity: [0, 4294967295], hostname: 'gw-ü-€-😀', users: '9223372036854775807', received_time_utc: '-5', create_order: '9007199254740993', is_uat: true, journal: true },
    'AAIBAKkBAAD7/////////wCA01v9HukYAMBEvYkl6RgA4GAN5RXpGGcSAAAAAAAAEAAAAAAAAABAAAAAAAAAAAAQAAAAAAAAgFEBAAAAAAAAAAAAEAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAJIQAAAAAAAAAABABgAAAAB4AAAAAAAAAIgTAAAAAAAAAgAAAAAAAAD/////////fwEAAAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABEiM0RVZneImaq7zN3u/6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urAAAHAAkACwAGAAgADgAMACAABgAMABAABQAFAAYAEAAHAAUABgAAAAAAAgBmcC0wMDAxaW5ncmVzcy0xZml4LWdhdGV3YXkzLjE0LjJidWlsZC0wN2d3LcO8LeKCrC3wn5iAZ3ctMS5leGFtcGxlMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWZ4ODZfNjRHZW51aW5lSW50ZWxJbnRlbChSKSBYZW9uKFIpTGludXg2LjguMCMxIFNNUGZpeC1nYXRld2F5QHhldGFGSVggNC40Zml4NDRwcm9kLWEAAAAA/////w==',
  ],
];

describe('legacy telemetry records (read until 2026-12-08)', () => {
  it('reads v1 JSON and v2 binary records as the version 3 record of the same values', () => {
    for (const overrides of VARIANTS) {
      expect(plainReport(read(v1(overrides)))).toEqual(current(1, overrides));
      expect(plainReport(read(v2(overrides)))).toEqual(current(2, overrides));
    }
    for (const [overrides, base64] of V2_WRITTEN) {
      const written = Buffer.from(base64, 'base64');
      expect(v2(overrides).equals(written)).toBe(true);
      expect(plainReport(read(written))).toEqual(current(2, overrides));
    }
  });

  it('ignores fields a later v1 added', () => {
    expect(plainReport(read(v1({ added_later: 1 })))).toEqual(current(1));
  });

  it.each<[string, string, unknown]>([
    ['not JSON', '{', expect.stringMatching(/^v1: not JSON: /)],
    ['wrong schema', v1({ schema: 'license-ledger/telemetry/v2' }), 'v1: schema is not "license-ledger/telemetry/v1"'],
    ['not an object', '[]', 'v1: schema is not "license-ledger/telemetry/v1"'],
    ['number instead of decimal string', JSON.stringify({ ...sampleTelemetryRecord(), create_order: 5 }), 'v1: create_order: expected an unsigned decimal string'],
    ['negative counter', v1({ create_order: '-1' }), 'v1: create_order: expected an unsigned decimal string'],
    ['leading zero', v1({ process_id: '042' }), 'v1: process_id: expected an unsigned decimal string'],
    ['out of int64 range', v1({ request_time_utc: '-9223372036854775809' }), 'v1: request_time_utc: out of int64 range'],
    ['above 2^63-1', v1({ users: '18446744073709551615' }), 'v1: users exceeds 2^63-1'],
    ['beyond uint64', v1({ users: '18446744073709551616' }), 'v1: users: out of uint64 range'],
    ['short nonce', v1({ nonce: 'abcd' }), 'v1: nonce has 2 bytes, not 16'],
    ['upper-case hex', v1({ config_hash: 'AB'.repeat(32) }), 'v1: config_hash: expected lowercase hex'],
    ['missing field', JSON.stringify((({ session_id: _s, ...rest }) => rest)(sampleTelemetryRecord())), 'v1: session_id is missing'],
    ['uint32 out of range', v1({ cpuid: [2 ** 32] }), 'v1: cpuid: expected an array of uint32 values'],
    ['unknown decision', v1({ decision: 'denied' }), 'v1: decision: expected one of granted, no_license_agreement, no_available_licenses, invalid_request'],
    ['U+0000 in a string', v1({ hostname: 'gw\u0000-1' }), 'v1: hostname contains U+0000'],
    ['a lone high surrogate', v1({ hostname: 'gw-1' }).replace('gw-1', 'gw-\\ud800'), 'v1: hostname: contains a lone UTF-16 surrogate'],
    ['a lone low surrogate', v1({ api_name: 'x' }).replace('"api_name":"x"', '"api_name":"\\udc00x"'), 'v1: api_name: contains a lone UTF-16 surrogate'],
  ])('rejects a v1 record with %s, saying why', (_name, value, error) => {
    expect(parseTelemetry(value)).toEqual({ ok: false, error });
  });

  const valid = (): Buffer => v2();
  const hostnameAt = (b: Buffer): number => 428 + [0, 1, 2, 3, 4, 5].reduce((n, i) => n + b.readUInt16LE(384 + 2 * i), 0);
  it.each<[string, (b: Buffer) => Buffer, string]>([
    ['empty after the marker', () => Buffer.from([0]), 'v2: 1 bytes is shorter than the fixed part (428)'],
    ['truncated strings', (b) => b.subarray(0, b.length - 40), 'v2: strings or vectors run past the end of the record'],
    ['unknown version', (b) => ((b[1] = 3), b), 'v2: unknown version 3'],
    ['unknown decision', (b) => ((b[2] = 4), b), 'v2: unknown decision 4'],
    ['unknown presence bit', (b) => ((b[3] = 3), b), 'v2: unknown presence bits'],
    ['unknown flag bit', (b) => (b.writeUInt16LE(1 << 10, 4), b), 'v2: unknown flag bits'],
    ['u64 above 2^63-1', (b) => ((b[40 + 7] = 0x80), b), 'v2: package_build_number exceeds 2^63-1'],
    ['cumulative above 2^63-1', (b) => ((b[160 + 7] = 0xff), b), 'v2: create_order exceeds 2^63-1'],
    ['agreement flagged absent but given', (b) => ((b[3] = 0), b), 'v2: agreement_id presence and length disagree'],
    ['empty package name', () => v2({ package_name: '' }), 'v2: package_name is empty'],
    ['U+0000 in the session id', () => v2({ session_id: '\u0000' }), 'v2: session_id contains U+0000'],
    ['invalid UTF-8', (b) => ((b[hostnameAt(b)] = 0xff), b), 'v2: hostname is not valid UTF-8'],
    ['too many cpuid values', (b) => (b.writeUInt16LE(1025, 424), b), 'v2: more than 1024 cpuid or cpu_affinity values'],
  ])('rejects a v2 record with %s, saying why', (_name, corrupt, error) => {
    expect(parseTelemetry(corrupt(valid()))).toEqual({ ok: false, error });
  });

  it('never throws on corrupted v2 bytes or odd v1 values, and reads what it accepts as written', () => {
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const base = v2({ hostname: 'gw-é' });
    const outcomes = { accepted: 0, rejected: 0 };
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k <= random(4); k++) b[1 + random(b.length - 1)] = random(256);
      const result = parseTelemetry(random(10) === 0 ? b.subarray(0, random(b.length)) : b);
      outcomes[result.ok ? 'accepted' : 'rejected'] += 1;
      if (!result.ok) expect(result.error).toMatch(/^v[12]: \S/);
    }
    const odd: unknown[] = [null, true, 0, 1.5, '', 'x', '0', '01', '-0', '-1', '1e3', '9223372036854775807', 'ab'.repeat(16), 'AB'.repeat(16), [], [0, 4294967295], [-1], {}, 'granted'];
    for (const field of TELEMETRY_FIELDS) {
      for (const value of odd) {
        const result = parseTelemetry(JSON.stringify({ ...sampleTelemetryRecord(), [field.name]: value }));
        outcomes[result.ok ? 'accepted' : 'rejected'] += 1;
        // (An empty session id is replaced, as tested above.)
        if (result.ok && !(field.name === 'session_id' && value === '')) expect({ field: field.name, value: plainReport(result.report)[field.name] }).toEqual({ field: field.name, value });
      }
    }
    expect(outcomes.accepted).toBeGreaterThan(100);
    expect(outcomes.rejected).toBeGreaterThan(100);
  });
});
