import { Builder } from 'flatbuffers';
import { LicenseRequest } from './generated/license_generated';
import { TelemetryRecord } from './generated/telemetry_generated';
import {
  COUNTER_FIELDS,
  CUMULATIVE_COLUMNS,
  CUMULATIVE_FIELDS,
  EXTERNAL_BOUNDS_NS,
  FEATURE_FIELDS,
  HISTOGRAM_COLUMNS,
  HISTOGRAMS,
  HOST_FIELDS,
  INTERNAL_BOUNDS_NS,
  reportColumn,
  ROW_FIELDS,
  SESSION_FIELDS,
  sqlType,
  TELEMETRY_DECISIONS,
  TELEMETRY_FIELDS,
} from './telemetry-fields';
import { FILE_IDENTIFIER, REQUEST_VTABLE_OFFSET, SLOTS } from './telemetry-layout';

/** How many fields the generated code says a table has (its builder's startObject). */
function fieldCount(start: (builder: Builder) => void): number {
  let count = -1;
  const builder = new Builder(64);
  builder.startObject = (numFields: number) => void (count = numFields);
  start(builder);
  return count;
}

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

describe('the telemetry field list', () => {
  it('names every field of the schema once, each through its own generated accessor', () => {
    for (const [table, count, extra] of [
      ['record', fieldCount(TelemetryRecord.startTelemetryRecord), [(REQUEST_VTABLE_OFFSET - 4) / 2]],
      ['request', fieldCount(LicenseRequest.startLicenseRequest), []],
    ] as const) {
      const slots = TELEMETRY_FIELDS.flatMap((f, i) => (f.table === table ? [SLOTS[i] as number] : []));
      expect({ table, slots: [...slots, ...extra].sort((a, b) => a - b) }).toEqual({ table, slots: Array.from({ length: count }, (_, i) => i) });
    }
    // A field's accessor is the generated method named like it (bytes and vectors through their *Array form).
    for (const field of TELEMETRY_FIELDS) {
      const source = field.read.toString();
      expect({ field: field.name, reads: source.includes(`.${camel(field.name)}(`) || source.includes(`.${camel(field.name)}Array(`) }).toEqual({ field: field.name, reads: true });
    }
    expect(new Set(TELEMETRY_FIELDS.map((f) => f.name)).size).toBe(TELEMETRY_FIELDS.length);
    expect(FILE_IDENTIFIER).toBe('LLT3');
  });

  it('derives the stored columns and their SQL types', () => {
    expect(ROW_FIELDS.map((f) => [reportColumn(f), sqlType(f)])).toEqual([
      ['received_at', 'timestamptz'],
      ['decision', 'text'],
      ['agreement_id', 'text'],
      ['request_time_utc', 'bigint'],
      ['nonce', 'text'],
      ['package_name', 'text'],
      ['api', 'text'],
      ['session_id', 'text'],
      ['symbols', 'bigint'],
      ['accounts', 'bigint'],
      ['users', 'bigint'],
      ...FEATURE_FIELDS.map((f) => [f, 'boolean']),
    ]);
    expect(SESSION_FIELDS.map((f) => f.name).sort()).toEqual(
      ['agreement_id', 'key_fingerprint', 'package_name', 'package_version', 'api', 'api_name', 'service_name', 'instance', 'hostname', 'is_uat', 'session_id'].sort(),
    );
    expect(HOST_FIELDS).toHaveLength(28);
    // Counters first, then the histograms: the order of a session's stored state (metrics_session.last_state).
    expect(CUMULATIVE_FIELDS.slice(0, COUNTER_FIELDS.length)).toEqual(COUNTER_FIELDS);
    expect(CUMULATIVE_COLUMNS).toEqual([...COUNTER_FIELDS, ...HISTOGRAM_COLUMNS]);
    expect(HISTOGRAM_COLUMNS).toEqual(['int_sum', 'int_500ns', 'int_1us', 'int_2us', 'int_5us', 'int_10us', 'int_20us', 'int_inf', 'ext_sum', 'ext_10us', 'ext_100us', 'ext_1ms', 'ext_10ms', 'ext_100ms', 'ext_1s', 'ext_inf']);
    expect(HISTOGRAMS.internal).toMatchObject({ sum: 'int_sum', buckets: expect.arrayContaining([{ column: 'int_inf', boundNs: Number.POSITIVE_INFINITY }]) });
    expect(INTERNAL_BOUNDS_NS).toEqual([500, 1_000, 2_000, 5_000, 10_000, 20_000, Number.POSITIVE_INFINITY]);
    expect(EXTERNAL_BOUNDS_NS).toEqual([10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, Number.POSITIVE_INFINITY]);
    expect(TELEMETRY_DECISIONS).toEqual(['granted', 'no_license_agreement', 'no_available_licenses', 'invalid_request']);
  });
});
