import {
  CUMULATIVE_FIELDS,
  type CumulativeField,
  cumulativeBuckets,
  DeltaSums,
  deltaText,
  encodeTelemetryRecord,
  estimateQuantile,
  INTERNAL_BOUNDS_NS,
  parseTelemetry,
  reportDelta,
  sampleTelemetryRecord,
  signaturePayload,
  stateFromArray,
  stateToArray,
  type TelemetryReport,
} from './index';

// Parsing and validation: telemetry-reader.spec.ts (and legacy/ for the older formats).
const parse = (overrides: Record<string, unknown> = {}): TelemetryReport => {
  const result = parseTelemetry(encodeTelemetryRecord(sampleTelemetryRecord(overrides)));
  if (!result.ok) throw new Error(result.error);
  return result.report;
};
const at = (field: CumulativeField): number => CUMULATIVE_FIELDS.indexOf(field);

describe('reportDelta', () => {
  it('takes a first report as its own delta, then differences', () => {
    const first = reportDelta(undefined, parse({ create_order: 5, ...cumulativeBuckets('internal', [1, 2, 0, 0, 0, 0, 0], 1500) }));
    expect(first.restart).toBe(true);
    expect(deltaText(first, at('create_order'))).toBe('5');
    const second = reportDelta(first.state, parse({ create_order: 8, ...cumulativeBuckets('internal', [1, 4, 1, 0, 0, 0, 0], 4000) }));
    expect(second.restart).toBe(false);
    expect(second.deltasBig).toBeUndefined();
    expect(second.deltas[at('create_order')]).toBe(3);
    expect(second.deltas[at('internal_latency_count_1us')]).toBe(2);
    expect(second.deltas[at('internal_latency_count_inf')]).toBe(3);
    expect(second.deltas[at('internal_latency_sum')]).toBe(2500);
  });

  it('treats a counter going down or a new process as a restart, never a negative delta', () => {
    const first = reportDelta(undefined, parse({ create_order: 50, cancel_order: 10 }));
    const down = reportDelta(first.state, parse({ create_order: 2, cancel_order: 20 }));
    expect(down.restart).toBe(true);
    expect(down.deltas[at('create_order')]).toBe(2);
    expect(down.deltas[at('cancel_order')]).toBe(20);
    const newProcess = reportDelta(first.state, parse({ create_order: 60, cancel_order: 10, process_id: 9 }));
    expect(newProcess.restart).toBe(true);
    expect(newProcess.deltas[at('create_order')]).toBe(60);
    const newStart = reportDelta(first.state, parse({ create_order: 60, cancel_order: 10, process_start_time_utc: '1794990000000000001' }));
    expect(newStart.restart).toBe(true);
  });

  it('is exact beyond 2^53 (in bigint), and back in doubles when the deltas are small again', () => {
    const big = 2n ** 62n;
    const first = reportDelta(undefined, parse({ create_order: (big + 1n).toString(), internal_latency_sum: '9007199254740993' }));
    expect(first.deltasBig?.[at('create_order')]).toBe(big + 1n);
    expect(deltaText(first, at('internal_latency_sum'))).toBe('9007199254740993');
    const second = reportDelta(first.state, parse({ create_order: (big + 8n).toString(), internal_latency_sum: '9007199254740995' }));
    expect(second.restart).toBe(false);
    expect(second.deltasBig).toBeUndefined();
    expect(second.deltas[at('create_order')]).toBe(7);
    expect(second.deltas[at('internal_latency_sum')]).toBe(2);
    const down = reportDelta(second.state, parse({ create_order: (big + 7n).toString() }));
    expect(down.restart).toBe(true);
    expect(deltaText(down, at('create_order'))).toBe((big + 7n).toString());
    expect(stateFromArray(stateToArray(first.state))).toEqual(first.state);
  });

  it('sums deltas exactly past 2^53', () => {
    const sums = new DeltaSums(2);
    sums.add(0, Number.MAX_SAFE_INTEGER);
    sums.add(0, 2);
    sums.add(1, 5);
    const other = new DeltaSums(2);
    other.addBig(1, 2n ** 63n);
    sums.merge(other);
    expect(sums.text(0)).toBe('9007199254740993');
    expect(sums.text(1)).toBe((2n ** 63n + 5n).toString());
  });

  it('round-trips the session state through a bigint array', () => {
    const { state } = reportDelta(undefined, parse({ create_order: 7 }));
    expect(stateFromArray(stateToArray(state))).toEqual(state);
    expect(stateFromArray(stateToArray(state).map((v) => BigInt(v)))).toEqual(state);
    expect(stateToArray(state)).toEqual([...CUMULATIVE_FIELDS.map((f) => (f === 'create_order' ? '7' : '0')), '4242', '1794990000000000000']);
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
