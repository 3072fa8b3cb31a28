import { AgreementHistory, assembleBuckets, bucketStarts, StoredBucket } from './usage-buckets';

const T = (iso: string): number => Date.parse(iso);
const stored = (start: string, peakLocks: number, licenses: number, denials = 0, licensesAtEnd = licenses): [number, StoredBucket] => [T(start), { start: T(start), peakLocks, licenses, licensesAtEnd, denials }];

describe('bucketStarts', () => {
  it('covers every UTC hour or day that overlaps the range', () => {
    expect(bucketStarts(T('2026-03-01T10:30:00Z'), T('2026-03-01T12:00:00Z'), 'hour').map((s) => new Date(s).toISOString())).toEqual([
      '2026-03-01T10:00:00.000Z',
      '2026-03-01T11:00:00.000Z',
    ]);
    expect(bucketStarts(T('2026-03-01T23:00:00Z'), T('2026-03-03T00:00:01Z'), 'day').map((s) => new Date(s).toISOString())).toEqual([
      '2026-03-01T00:00:00.000Z',
      '2026-03-02T00:00:00.000Z',
      '2026-03-03T00:00:00.000Z',
    ]);
    expect(bucketStarts(T('2026-03-01T10:00:00Z'), T('2026-03-01T10:00:00Z'), 'hour')).toEqual([]);
  });
});

describe('assembleBuckets', () => {
  const history: AgreementHistory = {
    agreementId: 'acme',
    licensesBefore: 3,
    lastEventHour: T('2026-03-01T12:00:00Z'),
    stored: new Map([stored('2026-03-01T10:00:00Z', 2, 3, 1, 5), stored('2026-03-01T12:00:00Z', 4, 5, 2, 5)]),
    // After 12:xx: 2 locks live until the hour starting 14:00, 1 until 15:00.
    locksLiveUntilHour: [
      [T('2026-03-01T14:00:00Z'), 2],
      [T('2026-03-01T15:00:00Z'), 1],
    ],
  };

  it('fills hours without rows: licenses carried, and after the last event what the locks leave live up to now', () => {
    const starts = bucketStarts(T('2026-03-01T09:00:00Z'), T('2026-03-01T18:00:00Z'), 'hour');
    const buckets = assembleBuckets(history, starts, 'hour', T('2026-03-01T15:30:00Z'));
    expect(buckets.map((b) => [b.start.slice(11, 16), b.peakLocks, b.licenses, b.denials])).toEqual([
      ['09:00', 0, 3, 0],
      ['10:00', 2, 3, 1],
      ['11:00', 0, 5, 0],
      ['12:00', 4, 5, 2],
      ['13:00', 3, 5, 0],
      ['14:00', 3, 5, 0],
      ['15:00', 1, 5, 0],
      // Not begun yet at 15:30: nothing is claimed about the future.
      ['16:00', 0, 5, 0],
      ['17:00', 0, 5, 0],
    ]);
  });

  it('takes a day bucket peak from its rows and from its first hour after the last event', () => {
    const days: AgreementHistory = { ...history, stored: new Map([stored('2026-03-01T00:00:00Z', 1, 5, 3, 5)]), lastEventHour: T('2026-03-01T08:00:00Z') };
    const buckets = assembleBuckets(days, bucketStarts(T('2026-03-01T00:00:00Z'), T('2026-03-03T00:00:00Z'), 'day'), 'day', T('2026-03-02T12:00:00Z'));
    // On March 1st, 09:00 (the first hour after the last event) has all 3 locks live; none is live into March 2nd.
    expect(buckets).toEqual([
      { start: '2026-03-01T00:00:00.000Z', peakLocks: 3, licenses: 5, denials: 3 },
      { start: '2026-03-02T00:00:00.000Z', peakLocks: 0, licenses: 5, denials: 0 },
    ]);
  });
});
