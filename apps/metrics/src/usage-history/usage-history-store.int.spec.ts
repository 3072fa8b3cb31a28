import type { LeaseEvent } from '@license-ledger/lease-domain';
import { integrationEnv } from '@license-ledger/platform-testing';
import { Pool } from 'pg';
import { createScratchDatabase, ScratchDatabase } from '../testing/scratch-database';
import { hashOf, leaseEvents } from './lease-event-builders';
import { newPartitionCache, PositionedEvent, UsageHistoryStore } from './usage-history-store';
import { readUsageHistory, RunQuery } from '@license-ledger/metrics-usage-history';

const T = (hhmm: string, date = '2026-03-01'): number => Date.parse(`${date}T${hhmm}:00Z`);
const TOPIC = 'test.lease.events';

/** Records at consecutive offsets from `first`. */
const at = (first: number, events: ReadonlyArray<LeaseEvent | undefined>): PositionedEvent[] => events.map((event, n) => ({ offset: String(first + n), event }));

describe('usage history store on the real database', () => {
  let db: ScratchDatabase;
  let pool: Pool;
  let store: UsageHistoryStore;
  let query: RunQuery;

  beforeAll(async () => {
    db = await createScratchDatabase(integrationEnv().databaseUrl);
    pool = new Pool({ connectionString: db.url, max: 4 });
    store = new UsageHistoryStore(pool);
    query = async <Row>(sql: string, params: readonly unknown[]) => (await pool.query(sql, [...params])).rows as Row[];
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const hours = (agreement: string) =>
    db.query<{ hour: Date; peak_locks: number; licenses: string; licenses_at_end: string; denials: string }>(
      `SELECT hour, peak_locks, licenses, licenses_at_end, denials FROM usage_history_hourly WHERE agreement_id = $1 ORDER BY hour`,
      [agreement],
    );
  const nextOffset = async (partition: number) => (await db.query<{ next_offset: string }>(`SELECT next_offset FROM usage_history_offset WHERE topic = $1 AND partition = $2`, [TOPIC, partition]))[0]?.next_offset;

  it('stores a batch with its offset, and folds a re-delivered or overlapping batch only where it is new', async () => {
    const acme = leaseEvents('acme');
    const first = at(0, [acme.opened(T('10:05'), 3), undefined, acme.granted(T('10:10'), 1, T('12:10')), acme.granted(T('10:20'), 2, T('10:50')), acme.denied(T('10:55'))]);
    expect(await store.store(TOPIC, 0, first)).toEqual({ applied: 4, duplicates: 0 });
    expect(await nextOffset(0)).toBe('5');
    // The same records again (a crash before Kafka's commit), then an overlapping batch.
    expect(await store.store(TOPIC, 0, first)).toEqual({ applied: 0, duplicates: 5 });
    const overlapping = [...first.slice(3), ...at(5, [acme.expired(T('10:50'), 2), acme.denied(T('13:20')), acme.granted(T('13:30'), 3, T('15:30'))])];
    expect(await store.store(TOPIC, 0, overlapping)).toEqual({ applied: 3, duplicates: 2 });
    expect(await nextOffset(0)).toBe('8');

    expect((await hours('acme')).map((h) => [h.hour.toISOString().slice(11, 16), h.peak_locks, Number(h.licenses), Number(h.denials)])).toEqual([
      ['10:00', 2, 3, 1],
      ['11:00', 1, 3, 0],
      ['12:00', 1, 3, 0],
      ['13:00', 1, 3, 1],
    ]);
    expect(await db.query(`SELECT config_hash, expires_at_ms FROM usage_history_lock WHERE agreement_id = 'acme' ORDER BY config_hash`)).toEqual([
      { config_hash: hashOf(1), expires_at_ms: String(T('12:10')) },
      { config_hash: hashOf(3), expires_at_ms: String(T('15:30')) },
    ]);
  });

  it('folds a batch once when two consumers store it at the same time (a rebalance)', async () => {
    const beta = leaseEvents('beta');
    const batch = at(0, [beta.opened(T('09:00'), 2), beta.denied(T('09:01')), beta.denied(T('09:02')), beta.granted(T('09:03'), 1, T('10:00'))]);
    const results = await Promise.all([store.store(TOPIC, 1, batch), store.store(TOPIC, 1, batch), store.store(TOPIC, 1, batch)]);
    expect(results.map((r) => r.applied).sort()).toEqual([0, 0, 4]);
    expect((await hours('beta')).map((h) => [h.peak_locks, Number(h.denials)])).toEqual([[1, 2]]);
  });

  it('reads its cached state only while nobody else stored the partition since', async () => {
    const gamma = leaseEvents('gamma');
    const cache = newPartitionCache();
    await store.store(TOPIC, 2, at(0, [gamma.opened(T('08:00'), 5), gamma.granted(T('08:01'), 1, T('20:00'))]), cache);
    expect(cache.nextOffset).toBe(2n);
    // Another replica folds the next records (this one's cache does not know lock 2).
    await store.store(TOPIC, 2, at(2, [gamma.granted(T('08:02'), 2, T('20:00'))]));
    await store.store(TOPIC, 2, at(3, [gamma.granted(T('08:03'), 3, T('20:00'))]), cache);
    expect((await hours('gamma')).map((h) => h.peak_locks)).toEqual([3]);
    expect(cache.agreements.get('gamma')?.locks.size).toBe(3);
  });

  it('answers hours and days with idle hours filled, licenses carried and the locks live after the last event', async () => {
    const delta = leaseEvents('delta');
    await store.store(TOPIC, 3, at(0, [
      delta.opened(T('22:10', '2026-03-01'), 2),
      delta.granted(T('22:20', '2026-03-01'), 1, T('02:20', '2026-03-02')),
      delta.denied(T('23:30', '2026-03-01')),
      delta.changed(T('00:30', '2026-03-02'), 4),
      delta.granted(T('00:40', '2026-03-02'), 2, T('01:40', '2026-03-02')),
    ]));
    const now = T('12:00', '2026-03-02');
    const byHour = await readUsageHistory(query, { agreement: 'delta', fromMs: T('21:00', '2026-03-01'), toMs: T('04:00', '2026-03-02'), by: 'hour', nowMs: now });
    expect(byHour.agreements.map((a) => a.agreement)).toEqual(['delta']);
    expect(byHour.agreements[0]?.buckets.map((b) => [b.start.slice(11, 16), b.peakLocks, b.licenses, b.denials])).toEqual([
      ['21:00', 0, 0, 0],
      ['22:00', 1, 2, 0],
      ['23:00', 1, 2, 1],
      ['00:00', 2, 4, 0],
      // After the last event: what the stored locks leave live at each hour's start.
      ['01:00', 2, 4, 0],
      ['02:00', 1, 4, 0],
      ['03:00', 0, 4, 0],
    ]);
    const byDay = await readUsageHistory(query, { agreement: null, fromMs: T('00:00', '2026-03-01'), toMs: T('00:00', '2026-03-03'), by: 'day', nowMs: now });
    expect(byDay).toMatchObject({ by: 'day', from: '2026-03-01T00:00:00.000Z', to: '2026-03-03T00:00:00.000Z' });
    expect(byDay.agreements.find((a) => a.agreement === 'delta')?.buckets).toEqual([
      { start: '2026-03-01T00:00:00.000Z', peakLocks: 1, licenses: 2, denials: 1 },
      { start: '2026-03-02T00:00:00.000Z', peakLocks: 2, licenses: 4, denials: 0 },
    ]);
    // Every agreement open in the range; none unknown.
    expect(byDay.agreements.map((a) => a.agreement)).toEqual(['acme', 'beta', 'delta', 'gamma']);
    expect((await readUsageHistory(query, { agreement: 'nobody', fromMs: now - 3_600_000, toMs: now, by: 'hour', nowMs: now })).agreements).toEqual([]);
  });
});
