import { ByteBuffer } from 'flatbuffers';
import { LicenseRequest } from './generated/license_generated';
import { Decision, TelemetryRecord } from './generated/telemetry_generated';
import { cumulativeBuckets, sampleTelemetryRecord } from './sample-record';
import { type AnyTelemetryField, CUMULATIVE_FIELDS, specOf, TELEMETRY_FIELDS } from './telemetry-fields';
import { encodeTelemetryRecord } from './telemetry-json';
import { VTABLE_OFFSETS } from './telemetry-layout';
import { parseTelemetry } from './telemetry-parse';
import { plainReport, type TelemetryReport } from './telemetry-reader';

const encode = (overrides: Record<string, unknown> = {}): Buffer => encodeTelemetryRecord(sampleTelemetryRecord(overrides));
const read = (value: Buffer): TelemetryReport => {
  const parsed = parseTelemetry(value);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.report;
};

/** The tables of a record as the generated code reads them. */
function tables(value: Buffer): { record: TelemetryRecord; request: LicenseRequest; requestAt: number } {
  const record = TelemetryRecord.getRootAsTelemetryRecord(new ByteBuffer(value));
  const bytes = record.requestArray() as Uint8Array;
  return { record, request: LicenseRequest.getRootAsLicenseRequest(new ByteBuffer(bytes)), requestAt: bytes.byteOffset - value.byteOffset };
}

/** Where field `name`'s inline value is in `value` (a scalar, or the offset to a string or vector). */
function fieldAt(value: Buffer, name: string): number {
  const i = TELEMETRY_FIELDS.findIndex((f) => f.name === name);
  const { record, request, requestAt } = tables(value);
  const table = (TELEMETRY_FIELDS[i] as AnyTelemetryField).table === 'record' ? record : request;
  const offset = (table.bb as ByteBuffer).__offset(table.bb_pos, VTABLE_OFFSETS[i] as number);
  if (offset === 0) throw new Error(`${name} is absent`);
  return (table === request ? requestAt : 0) + table.bb_pos + offset;
}
/** Where the contents of string or vector `name` start. */
const contentsAt = (value: Buffer, name: string): number => fieldAt(value, name) + value.readUInt32LE(fieldAt(value, name)) + 4;

/** A field as the generated accessor reads it, in the report's terms. */
function viaAccessor(value: Buffer, field: AnyTelemetryField): unknown {
  const { record, request } = tables(value);
  const read = field.table === 'record' ? field.read(record) : field.read(request);
  if (typeof read === 'bigint') return read.toString();
  if (read instanceof Uint32Array) return [...read];
  if (read instanceof Uint8Array) return Buffer.from(read).toString('hex');
  if (field.type === 'decision') return Decision[read as number];
  if (read === null) return specOf(field).nullable ? null : field.type === 'u32s' ? [] : '';
  return read;
}

const VARIANTS: Array<Record<string, unknown>> = [
  {},
  { agreement_id: null, decision: 'no_license_agreement', cpuid: [], cpu_affinity: [0, 4294967295], package_version: '', is_uat: true, journal: true },
  { hostname: 'gw-ü-€-😀', api: 'ä\tb', users: '9223372036854775807', received_time_utc: '-5', request_time_utc: '-9223372036854775808', decision: 'invalid_request' },
  { ...cumulativeBuckets('external', [1, 2, 3, 4, 5, 6, 7], 123456789), create_order: '9007199254740993', system_uptime: '9007199254740993', machine: 'é'.repeat(4096) },
];

describe('reading a version 3 record', () => {
  it('reads every field as its generated accessor does, and the cumulative values as numbers', () => {
    for (const overrides of VARIANTS) {
      const value = encode(overrides);
      const report = read(value);
      expect(report.version).toBe(3);
      for (const field of TELEMETRY_FIELDS) expect({ field: field.name, value: report[field.name] }).toEqual({ field: field.name, value: viaAccessor(value, field) });
      const exact = CUMULATIVE_FIELDS.map((f) => BigInt(report[f]));
      expect(report.cumulativeBig ?? report.cumulative.map((n) => BigInt(n))).toEqual(exact);
      expect(report.cumulativeBig === undefined).toBe(exact.every((n) => n <= BigInt(Number.MAX_SAFE_INTEGER)));
    }
    expect(read(encode()).received_at).toBe('2026-11-18T11:06:40.000000Z');
    expect(read(encode({ received_time_utc: '-5' })).received_at).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('reads a bool as FlatBuffers does: any byte but 0 is true', () => {
    const b = encode({ is_uat: true });
    b[fieldAt(b, 'is_uat')] = 0x7f;
    expect(read(b).is_uat).toBe(true);
    expect(plainReport(read(b))).toEqual(plainReport(read(encode({ is_uat: true }))));
  });

  it('derives a missing session id from what identifies the process', () => {
    const report = read(encode({ session_id: '', key_fingerprint: 'a4d6a7e01b5ef66a', hostname: 'gw-9', process_id: 77, process_start_time_utc: '123' }));
    expect(report.session_id).toBe('~a4d6a7e01b5ef66a/gw-9/77/123');
    expect(plainReport(report)['session_id']).toBe('~a4d6a7e01b5ef66a/gw-9/77/123');
  });

  const corrupt = (name: string, change: (b: Buffer) => void, overrides: Record<string, unknown> = {}): Buffer => {
    const b = Buffer.from(encode(overrides));
    change(b);
    return b;
  };
  it.each<[string, () => Buffer, unknown]>([
    // Without the identifier's last byte it is no version 3 record: read (and refused) as v1 JSON.
    ['too short for a record', () => encode().subarray(0, 7), expect.stringMatching(/^v1: not JSON: /)],
    ['truncated', () => encode().subarray(0, 300), 'v3: request runs past the end of the record'],
    ['a root offset past the end', () => corrupt('', (b) => b.writeUInt32LE(b.length, 0)), 'v3: record: the root offset is outside the buffer'],
    ['a u64 above 2^63-1', () => encode({ users: '9223372036854775808' }), 'v3: users exceeds 2^63-1'],
    ['a cumulative value above 2^63-1', () => encode({ create_order: '18446744073709551615' }), 'v3: create_order exceeds 2^63-1'],
    ['an unknown decision', () => corrupt('', (b) => (b[fieldAt(b, 'decision')] = 9), { decision: 'invalid_request' }), 'v3: unknown decision 9'],
    ['U+0000 in a string', () => encode({ hostname: 'gw\u0000' }), 'v3: hostname contains U+0000'],
    ['U+0000 after non-ASCII', () => encode({ hostname: 'é\u0000' }), 'v3: hostname contains U+0000'],
    ['invalid UTF-8', () => corrupt('', (b) => (b[contentsAt(b, 'hostname')] = 0xff)), 'v3: hostname is not valid UTF-8'],
    ['over 4096 characters', () => encode({ machine: 'é'.repeat(4097) }), 'v3: machine is longer than 4096 characters'],
    ['an empty package name', () => encode({ package_name: '' }), 'v3: package_name is empty'],
    ['an empty key fingerprint', () => encode({ key_fingerprint: '' }), 'v3: key_fingerprint is empty'],
    ['an empty agreement id', () => encode({ agreement_id: '' }), 'v3: agreement_id is empty'],
    ['a short nonce', () => encode({ nonce: 'ab'.repeat(15) }), 'v3: nonce has 15 bytes, not 16'],
    ['no config hash', () => corrupt('', (b) => b.writeUInt32LE(0, contentsAt(b, 'config_hash') - 4)), 'v3: config_hash has 0 bytes, not 32'],
    ['too many cpuid values', () => encode({ cpuid: new Array(1025).fill(1) }), 'v3: cpuid has more than 1024 values'],
    ['a string past the end', () => corrupt('', (b) => b.writeUInt32LE(100_000, contentsAt(b, 'hostname') - 4)), 'v3: hostname runs past the end of the record'],
  ])('rejects %s, saying why', (_what, make, error) => {
    expect(parseTelemetry(make())).toEqual({ ok: false, error });
  });

  it('never throws on corrupted bytes, and never accepts U+0000 or what the field list forbids', () => {
    const base = encode({ hostname: 'gw-é', agreement_id: 'acme' });
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    let accepted = 0;
    const reasons = new Set<string>();
    const bad: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(base);
      // Not the identifier: that would only make it a legacy record.
      for (let k = 0; k <= random(4); k++) b[8 + random(b.length - 8)] = random(256);
      const result = parseTelemetry(random(10) === 0 ? b.subarray(0, 8 + random(b.length - 8)) : b); // a throw fails the test here
      if (!result.ok) {
        reasons.add(result.error.replace(/\d+/g, 'N'));
        continue;
      }
      accepted += 1;
      const plain = plainReport(result.report);
      for (const field of TELEMETRY_FIELDS) {
        const value = plain[field.name];
        if (typeof value === 'string' && (value.includes('\u0000') || value.includes('\uFFFD'))) bad.push(`case ${i}: ${field.name}`);
        if (field.type === 'u64' && BigInt(value as string) >= 2n ** 63n) bad.push(`case ${i}: ${field.name} = ${String(value)}`);
      }
      if (result.report.nonce.length !== 32 || result.report.config_hash.length !== 64 || result.report.package_name === '') bad.push(`case ${i}: rules`);
    }
    expect(bad).toEqual([]);
    expect(accepted).toBeGreaterThan(100);
    expect(reasons.size).toBeGreaterThan(5);
    for (const reason of reasons) expect(reason).toMatch(/^vN: \S/);
  });
});

describe('the facts key', () => {
  it('stays while only progress and per-request values change, and changes with every fact', () => {
    // Counters already counting: a report's progress changes their values, not which fields are present.
    const counting = { create_order: 5, internal_latency_count_inf: 3 };
    const key = read(encode(counting)).factsKey();
    expect(read(encode(counting)).hasFactsKey(key)).toBe(true);
    const progress = { nonce: 'ab'.repeat(16), create_order: 99, internal_latency_count_inf: 7, received_time_utc: '1800000000000000000', request_time_utc: '5', ingress_instance: 'ingress-2' };
    expect(read(encode(progress)).hasFactsKey(key)).toBe(true);
    const changes: Array<Record<string, unknown>> = [
      { hostname: 'gw-2' },
      { hostname: 'gw-10' },
      { system_uptime: '86401' },
      { is_uat: true },
      { agreement_id: null },
      { agreement_id: 'acmf' },
      { key_fingerprint: 'fp-0002' },
      { process_start_time_utc: '1' },
      { config_hash: 'cd'.repeat(32) },
      { cpu_affinity: [0, 1, 2] },
      { cpuid: [1] },
      { users: '4' },
      { session_id: 'session-2' },
      { package_version: '' },
    ];
    for (const change of changes) expect({ change, same: read(encode({ ...counting, ...change })).hasFactsKey(key) }).toEqual({ change, same: false });
    // What moves fields about (another field present, a bool byte other than 1) only reads as changed:
    // a facts hash more, never a wrong one.
    expect(read(encode({ ...counting, decision: 'invalid_request', journal: true })).hasFactsKey(key)).toBe(false);
    // Keys are copies: they outlive the record they were taken from.
    const value = encode(counting);
    const copied = read(value).factsKey();
    value.fill(0);
    expect(read(encode(counting)).hasFactsKey(copied)).toBe(true);
  });
});
