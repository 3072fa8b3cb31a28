import { CUMULATIVE_FIELDS, DeltaSums, deltaText, encodeTelemetryRecord, parseTelemetry, reportDelta, sampleTelemetryRecord, stateFromArray, stateToArray, type TelemetryReport } from './index';

const MAX = 2n ** 63n - 1n;
const COUNT = CUMULATIVE_FIELDS.length;

function report(values: string, extra: Record<string, unknown> = {}): TelemetryReport {
  const parsed = parseTelemetry(encodeTelemetryRecord(sampleTelemetryRecord({ ...Object.fromEntries(CUMULATIVE_FIELDS.map((f) => [f, values])), ...extra })));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.report;
}

describe('deltas and sums at the top of the int64 range', () => {
  it('takes 2^63-1 as a delta exactly: first report, growth from below 2^53, restart', () => {
    const first = reportDelta(undefined, report(MAX.toString()));
    expect(first.restart).toBe(true);
    expect(Array.from({ length: COUNT }, (_, i) => deltaText(first, i))).toEqual(Array(COUNT).fill(MAX.toString()));
    // From a small state (doubles) to the maximum: the exact difference, in bigint.
    const small = reportDelta(undefined, report('5'));
    const grown = reportDelta(small.state, report(MAX.toString()));
    expect(grown.restart).toBe(false);
    expect(deltaText(grown, 0)).toBe((MAX - 5n).toString());
    // The state survives its bigint[] column round trip exactly.
    const restored = stateFromArray(stateToArray(grown.state));
    expect(restored?.big?.[0]).toBe(MAX);
    // Same process, a value gone down: a restart whose delta is the new value, never negative.
    const down = reportDelta(restored, report((MAX - 1n).toString()));
    expect(down.restart).toBe(true);
    expect(deltaText(down, COUNT - 1)).toBe((MAX - 1n).toString());
    // Back below 2^53 after wide values: plain doubles again.
    const later = reportDelta(down.state, report((MAX - 1n).toString()));
    expect(later.deltasBig).toBeUndefined();
    expect(later.deltas[0]).toBe(0);
  });

  it('sums deltas beyond int64 exactly, whether added, mixed with small ones or merged', () => {
    const wide = reportDelta(undefined, report(MAX.toString()));
    const small = reportDelta(undefined, report('7'));
    const hour = new DeltaSums(2);
    for (let i = 0; i < 3; i++) hour.addDelta(wide, 0);
    hour.addDelta(small, 0);
    expect(hour.text(0)).toBe((3n * MAX + 7n).toString());
    // A sum that grows past 2^53 from doubles alone carries on exactly.
    const doubles = new DeltaSums(2);
    doubles.add(0, Number.MAX_SAFE_INTEGER);
    doubles.add(0, 2);
    expect(doubles.text(0)).toBe((2n ** 53n + 1n).toString());
    const day = new DeltaSums(2);
    day.merge(hour);
    day.merge(hour);
    day.merge(doubles);
    expect(day.text(0)).toBe((6n * MAX + 14n + 2n ** 53n + 1n).toString());
    expect(day.text(1)).toBe((6n * MAX + 14n).toString());
  });
});
