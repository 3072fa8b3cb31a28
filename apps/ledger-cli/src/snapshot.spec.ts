import type { SnapshotManifest } from '@license-ledger/lease-ledger';
import { UsageError } from './args';
import { formatAge, formatSnapshotStatus, parseSnapshotArgs } from './snapshot';

const manifest: SnapshotManifest = {
  format: 'license-ledger.partition-snapshot',
  version: 1,
  eventsTopic: 'events',
  partition: 0,
  coveredOffset: '120000',
  takenAtMs: Date.UTC(2026, 11, 1, 12, 0, 0),
  bodyBytes: 2_500_000,
  sha256: '0'.repeat(64),
  chunkOffsets: ['7', '8', '9'],
};

describe('ledger snapshot status', () => {
  it('takes "status" and --exact, and nothing else', () => {
    expect(parseSnapshotArgs(['status'])).toEqual({ exact: false });
    expect(parseSnapshotArgs(['status', '--exact'])).toEqual({ exact: true });
    expect(() => parseSnapshotArgs([])).toThrow(UsageError);
    expect(() => parseSnapshotArgs(['status', '--partition', '1'])).toThrow(/snapshot status/);
  });

  it('rounds ages to what an operator reads', () => {
    expect([41_999, 312_000, 3 * 3_600_000 + 5 * 60_000, 2 * 86_400_000 + 7 * 3_600_000, -5].map(formatAge)).toEqual(['41s', '5m12s', '3h05m', '2d07h', '0s']);
  });

  it('prints per partition the snapshot offset, its age and size, and the tail after it', () => {
    const now = manifest.takenAtMs + 5 * 60_000 + 12_345;
    const lines = formatSnapshotStatus(
      [
        { partition: 0, lookup: { kind: 'found', manifest, offset: '10' }, tailRecords: 840n, tailEvents: 412 },
        { partition: 1, lookup: { kind: 'none' }, tailRecords: 15n, tailEvents: 15 },
        { partition: 2, lookup: { kind: 'unusable', offset: '33', reason: 'body fails its SHA-256 check' }, tailRecords: 90_000n, tailEvents: 45_000 },
      ],
      now,
    );
    expect(lines[0]?.split(/\s{2,}/)).toEqual(['PARTITION', 'SNAPSHOT OFFSET', 'TAKEN AT', 'AGE', 'SIZE', 'TAIL RECORDS', 'TAIL EVENTS', 'STATE']);
    expect(lines[1]?.split(/\s{2,}/)).toEqual(['0', '120000', expect.stringContaining('2026-12-01'), '5m12s', '2.5 MB', '840', '412', 'ok']);
    expect(lines[2]).toContain('no snapshot: a start folds the whole partition');
    expect(lines[3]).toContain('unusable (offset 33): body fails its SHA-256 check');
  });
});
