import {
  cumulativeBuckets,
  estimateQuantile,
  INTERNAL_BOUNDS_NS,
  parseTelemetry,
  parseTelemetryBySchema,
  reportDelta,
  sampleTelemetryRecord,
  signaturePayload,
  stateFromArray,
  stateToArray,
  type TelemetryReport,
} from './index';

const parse = (overrides: Record<string, unknown> = {}): TelemetryReport => {
  const result = parseTelemetry(JSON.stringify(sampleTelemetryRecord(overrides)));
  if (!result.ok) throw new Error(result.error);
  return result.report;
};

describe('parseTelemetry', () => {
  it('accepts the ingress format and turns 64-bit values into bigints', () => {
    const report = parse({ create_order: 12 });
    expect(report.create_order).toBe(12n);
    expect(report.received_time_utc).toBe(1795000000000000000n);
    expect(report.cpu_affinity).toEqual([2, 3]);
  });

  it('ignores fields a later v1 adds, and derives a missing session id from the process', () => {
    const report = parse({ added_later: 1, session_id: '', key_fingerprint: 'a4d6a7e01b5ef66a', hostname: 'gw-9', process_id: 77, process_start_time_utc: '123' });
    expect(report).not.toHaveProperty('added_later');
    expect(report.session_id).toBe('~a4d6a7e01b5ef66a/gw-9/77/123');
  });

  it.each([
    ['not JSON', '{'],
    ['wrong schema', JSON.stringify(sampleTelemetryRecord({ schema: 'license-ledger/telemetry/v2' }))],
    ['number instead of decimal string', JSON.stringify({ ...sampleTelemetryRecord(), create_order: 5 })],
    ['negative counter', JSON.stringify(sampleTelemetryRecord({ create_order: '-1' }))],
    ['short nonce', JSON.stringify(sampleTelemetryRecord({ nonce: 'abcd' }))],
    ['upper-case hex', JSON.stringify(sampleTelemetryRecord({ config_hash: 'AB'.repeat(32) }))],
    ['missing field', JSON.stringify((({ session_id: _s, ...rest }) => rest)(sampleTelemetryRecord()))],
    ['uint32 out of range', JSON.stringify(sampleTelemetryRecord({ cpuid: [2 ** 32] }))],
    ['beyond bigint', JSON.stringify(sampleTelemetryRecord({ users: '18446744073709551615' }))],
  ])('rejects %s', (_name, value) => {
    const result = parseTelemetry(value);
    expect(result.ok).toBe(false);
  });
});

describe('parseTelemetry agrees with the zod schema on every field', () => {
  // The hand-written check must accept exactly what the schema accepts, and give the same report.
  const base = sampleTelemetryRecord({ create_order: 3, cpuid: [1, 2] });
  const oddValues: unknown[] = [
    undefined, null, true, 0, 1.5, -1, 2 ** 32, Number.MAX_SAFE_INTEGER, '', 'x', '0', '00', '01', '-0', '-1', '+1', ' 1', '1 ',
    '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551615', '1e3',
    '0f1e2d3c4b5a69788796a5b4c3d2e1f0', '0F1E2D3C4B5A69788796A5B4C3D2E1F0', 'ab'.repeat(32), 'AB'.repeat(32), 'ab'.repeat(31),
    'x'.repeat(4096), 'x'.repeat(4097), 'granted', 'invalid_request', 'denied', 'license-ledger/telemetry/v1',
    [], [0, 4294967295], [4294967296], [-1], [1.5], ['1'], new Array(1025).fill(0), new Array(1024).fill(7), {}, { a: 1 },
  ];
  const cases: Array<[string, string]> = [
    ['not an object', '[]'],
    ['null', 'null'],
    ['a string', '"x"'],
    ['extra fields only', JSON.stringify({ ...base, later: { nested: true } })],
  ];
  for (const field of Object.keys(base)) {
    for (const value of oddValues) cases.push([`${field} = ${JSON.stringify(value)?.slice(0, 30)}`, JSON.stringify({ ...base, [field]: value })]);
  }
  it(`on ${cases.length} variants`, () => {
    let accepted = 0;
    for (const [name, value] of cases) {
      const quick = parseTelemetry(value);
      const reference = parseTelemetryBySchema(value);
      if (quick.ok !== reference.ok || (quick.ok && reference.ok && !sameReport(quick.report, reference.report)) || (!quick.ok && !reference.ok && quick.error !== reference.error)) {
        throw new Error(`disagree on ${name}: ${JSON.stringify([quick, reference], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
      }
      if (quick.ok) accepted += 1;
    }
    // Both outcomes are exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(cases.length - 100);
  });
  const sameReport = (a: TelemetryReport, b: TelemetryReport): boolean => {
    const keys = Object.keys(a).sort();
    return JSON.stringify(keys) === JSON.stringify(Object.keys(b).sort()) && keys.every((k) => JSON.stringify((a as unknown as Record<string, unknown>)[k], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) === JSON.stringify((b as unknown as Record<string, unknown>)[k], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
  };
});

describe('reportDelta', () => {
  it('takes a first report as its own delta, then differences', () => {
    const first = reportDelta(undefined, parse({ create_order: 5, ...cumulativeBuckets('internal', [1, 2, 0, 0, 0, 0, 0], 1500) }));
    expect(first.restart).toBe(true);
    expect(first.deltas.create_order).toBe(5n);
    const second = reportDelta(first.state, parse({ create_order: 8, ...cumulativeBuckets('internal', [1, 4, 1, 0, 0, 0, 0], 4000) }));
    expect(second.restart).toBe(false);
    expect(second.deltas.create_order).toBe(3n);
    expect(second.deltas.internal_latency_count_1us).toBe(2n);
    expect(second.deltas.internal_latency_count_inf).toBe(3n);
    expect(second.deltas.internal_latency_sum).toBe(2500n);
  });

  it('treats a counter going down or a new process as a restart, never a negative delta', () => {
    const first = reportDelta(undefined, parse({ create_order: 50, cancel_order: 10 }));
    const down = reportDelta(first.state, parse({ create_order: 2, cancel_order: 20 }));
    expect(down.restart).toBe(true);
    expect(down.deltas.create_order).toBe(2n);
    expect(down.deltas.cancel_order).toBe(20n);
    const newProcess = reportDelta(first.state, parse({ create_order: 60, cancel_order: 10, process_id: 9 }));
    expect(newProcess.restart).toBe(true);
    expect(newProcess.deltas.create_order).toBe(60n);
  });

  it('round-trips the session state through a bigint array', () => {
    const { state } = reportDelta(undefined, parse({ create_order: 7 }));
    expect(stateFromArray(stateToArray(state))).toEqual(state);
    expect(stateFromArray(stateToArray(state).map((v) => BigInt(v)))).toEqual(state);
    expect(stateFromArray([])).toBeUndefined();
    expect(stateFromArray(null)).toBeUndefined();
  });
});

describe('estimateQuantile (linear interpolation within the bucket)', () => {
  // Hand-computed case: 100 samples, per bucket 10, 30, 40, 15, 4, 1, 0 over bounds
  // 500, 1000, 2000, 5000, 10000, 20000 ns, +Inf. Cumulative: 10, 40, 80, 95, 99, 100, 100.
  //   p50: rank 50 -> (1000, 2000], 10 of its 40 samples in: 1000 + 1000 * 10/40 = 1250
  //   p90: rank 90 -> (2000, 5000], 10 of 15:                 2000 + 3000 * 10/15 = 4000
  //   p99: rank 99 -> (5000, 10000], 4 of 4:                  5000 + 5000 * 4/4  = 10000
  const cumulative = [10, 40, 80, 95, 99, 100, 100];
  it('matches the hand-computed p50, p90, p99', () => {
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, cumulative, 0.5)).toEqual({ value: 1250, overflow: false });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, cumulative, 0.9)).toEqual({ value: 4000, overflow: false });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, cumulative, 0.99)).toEqual({ value: 10000, overflow: false });
  });
  it('interpolates from 0 in the first bucket, reports overflow in +Inf, null without samples', () => {
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, [4, 4, 4, 4, 4, 4, 4], 0.5)).toEqual({ value: 250, overflow: false });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, [0, 0, 0, 0, 0, 1, 2], 0.9)).toEqual({ value: 20000, overflow: true });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, [0, 0, 0, 0, 0, 0, 0], 0.5)).toBeNull();
  });
});

describe('signaturePayload', () => {
  it('is METHOD:path-with-query for a request without body', () => {
    expect(signaturePayload('get', '/v1/usage?from=2026-01-01T00:00:00Z&group_by=day')).toBe('GET:/v1/usage?from=2026-01-01T00:00:00Z&group_by=day');
  });
  it('appends the body parameters sorted by key, nulls left out', () => {
    expect(signaturePayload('POST', '/v1/x?a=1', { b: 2, a: 'x', c: null, d: true })).toBe('POST:/v1/x?a=1:a=x&b=2&d=true');
  });
});
