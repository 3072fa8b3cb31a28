import type { PartitionRange } from '@license-ledger/platform-kafka';
import { planFold } from './fold-threads';

const range = (partition: number, records: number, start = 0): PartitionRange => ({ partition, start: String(start), end: String(start + records) });
const recordsOf = (ranges: readonly PartitionRange[]): number => ranges.reduce((sum, r) => sum + Number(r.end) - Number(r.start), 0);

describe('planFold', () => {
  const ranges = [range(0, 500), range(1, 100), range(2, 400), range(3, 300), range(4, 0), range(5, 200, 1_000)];

  it('spreads the ranges over this thread and the fold threads, longest first onto the least loaded', () => {
    const plan = planFold(ranges, { threads: 3, minRecords: 0 }, () => true);
    const loads = [plan.here, ...plan.threads].map(recordsOf);
    expect(loads.sort((a, b) => a - b)).toEqual([500, 500, 500]);
    // Every range with records exactly once; an empty one stays here (nothing to fold).
    const planned = [...plan.here, ...plan.threads.flat()].map((r) => r.partition).sort();
    expect(planned).toEqual([0, 1, 2, 3, 4, 5]);
    expect(plan.here.map((r) => r.partition)).toContain(4);
  });

  it('keeps here what may not move, and counts it as this thread\'s load', () => {
    const plan = planFold(ranges, { threads: 2, minRecords: 0 }, (r) => r.partition !== 0 && r.partition !== 2);
    expect(plan.here.map((r) => r.partition)).toEqual(expect.arrayContaining([0, 2]));
    expect(plan.threads.flat().map((r) => r.partition)).not.toContain(0);
    expect(recordsOf(plan.threads.flat())).toBe(600);
  });

  it('folds everything here below the threshold or with one thread', () => {
    expect(planFold(ranges, { threads: 4, minRecords: 1_501 }, () => true)).toEqual({ here: ranges, threads: [] });
    expect(planFold(ranges, { threads: 1, minRecords: 0 }, () => true)).toEqual({ here: ranges, threads: [] });
    expect(planFold(ranges, { threads: 4, minRecords: 1_500 }, () => true).threads.length).toBe(3);
    // Only what may move counts: 600 movable records are below a threshold of 1,000.
    expect(planFold(ranges, { threads: 2, minRecords: 1_000 }, (r) => r.partition === 1 || r.partition === 3 || r.partition === 5).threads).toEqual([]);
  });
});
