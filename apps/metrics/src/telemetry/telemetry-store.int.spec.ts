import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { parseTelemetry, sampleTelemetryRecord, type TelemetryReport } from '@license-ledger/metrics-usage';
import { createScratchDatabase, ScratchDatabase } from '../testing/scratch-database';
import { PositionedReport, SessionCache, TelemetryStore } from './telemetry-store';

const databaseUrl = process.env['DATABASE_URL'];
if (!databaseUrl) throw new Error('DATABASE_URL must be set: run `npm test`');

jest.setTimeout(60_000);

const ns = (iso: string): string => (BigInt(Date.parse(iso)) * 1_000_000n).toString();
let offset = 0;
/** A report of `session` with cumulative create_order `count` and internal <=500ns bucket `count`. */
const report = (session: string, count: number, minute: number, extra: Record<string, unknown> = {}): PositionedReport => {
  const parsed = parseTelemetry(
    JSON.stringify(
      sampleTelemetryRecord({
        session_id: session,
        agreement_id: 'store',
        nonce: randomBytes(16).toString('hex'),
        received_time_utc: ns(`2026-05-01T10:${String(minute).padStart(2, '0')}:00Z`),
        create_order: count,
        internal_latency_count_500ns: count,
        internal_latency_count_inf: count,
        ...extra,
      }),
    ),
  );
  if (!parsed.ok) throw new Error(parsed.error);
  return { report: parsed.report as TelemetryReport, partition: 0, offset: String(offset++) };
};

describe('TelemetryStore on the real database', () => {
  let db: ScratchDatabase;
  let pool: Pool;
  let store: TelemetryStore;

  beforeAll(async () => {
    db = await createScratchDatabase(databaseUrl);
    pool = new Pool({ connectionString: db.url, max: 3 });
    store = new TelemetryStore(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const deltas = (session: string) =>
    db.query<{ create_order: string; int_500ns: string; restart: boolean }>(`SELECT create_order, int_500ns, restart FROM metrics_report WHERE session_id = $1 ORDER BY kafka_offset`, [session]);
  const hourly = async () => (await db.query<{ reports: string; int_500ns: string }>(`SELECT reports, int_500ns FROM metrics_latency_hourly WHERE agreement_id = 'store'`))[0];

  it('stores through the cache (fast path) with the same deltas, session and roll-ups as without it', async () => {
    const cache: SessionCache = new Map();
    const a = [report('fast-1', 10, 1), report('fast-1', 25, 2), report('fast-2', 7, 3)];
    expect(await store.store(a, cache)).toMatchObject({ stored: 3, duplicates: 0, path: 'fast' });
    expect(cache.get('fast-1')?.reports).toBe(2n);
    // A second batch goes from the cached state, without reading the session again.
    expect(await store.store([report('fast-1', 30, 4), report('fast-1', 2, 5)], cache)).toMatchObject({ stored: 2, restarts: 1, path: 'fast' });
    expect((await deltas('fast-1')).map((r) => [Number(r.create_order), r.restart])).toEqual([
      [10, true],
      [15, false],
      [5, false],
      [2, true],
    ]);
    const [session] = await db.query(`SELECT reports, restarts, last_seen FROM metrics_session WHERE session_id = 'fast-1'`);
    expect(session).toEqual({ reports: '4', restarts: '1', last_seen: new Date('2026-05-01T10:05:00Z') });
    // Roll-ups hold exactly the stored deltas: 10 + 15 + 5 + 2 + 7.
    expect(await hourly()).toEqual({ reports: '5', int_500ns: '39' });
  });

  it('redelivery after a crash between store and offset commit changes nothing, and later deltas stay right', async () => {
    const cache: SessionCache = new Map();
    const batch = [report('crash-1', 100, 10), report('crash-1', 150, 11)];
    await store.store(batch, cache);
    const before = await hourly();
    // The new owner (empty cache) gets the same batch again, plus what followed.
    const fresh: SessionCache = new Map();
    const again = await store.store([...batch, report('crash-1', 170, 12)], fresh);
    expect(again).toMatchObject({ stored: 1, duplicates: 2, path: 'slow', fallback: 'conflict' });
    expect((await deltas('crash-1')).map((r) => Number(r.create_order))).toEqual([100, 50, 20]);
    expect(Number((await hourly())?.reports)).toBe(Number(before?.reports) + 1);
    // And it carries on fast from there.
    expect(await store.store([report('crash-1', 171, 13)], fresh)).toMatchObject({ stored: 1, path: 'fast' });
    expect((await deltas('crash-1')).map((r) => Number(r.create_order))).toEqual([100, 50, 20, 1]);
  });

  it('a stale cache (another replica stored the session meanwhile) is caught and the batch retried locked', async () => {
    const mine: SessionCache = new Map();
    await store.store([report('handover-1', 10, 20)], mine);
    // The partition moved: another replica stores the next report from the database's state.
    const theirs: SessionCache = new Map();
    expect(await store.store([report('handover-1', 40, 21)], theirs)).toMatchObject({ stored: 1, path: 'fast' });
    // This replica, not yet told, stores a later report from its outdated cache: caught, not a wrong delta.
    expect(await store.store([report('handover-1', 45, 22)], mine)).toMatchObject({ stored: 1, path: 'slow', fallback: 'conflict' });
    expect(mine.has('handover-1')).toBe(false);
    expect((await deltas('handover-1')).map((r) => Number(r.create_order))).toEqual([10, 30, 5]);
    const [session] = await db.query(`SELECT reports FROM metrics_session WHERE session_id = 'handover-1'`);
    expect(session).toEqual({ reports: '3' });
  });

  it('a report delivered twice in one batch, or late after newer ones, is stored once', async () => {
    const cache: SessionCache = new Map();
    const first = report('twice-1', 5, 30);
    expect(await store.store([first, first, report('twice-1', 8, 31)], cache)).toMatchObject({ stored: 2, duplicates: 1, path: 'fast' });
    expect(await store.store([first], cache)).toMatchObject({ stored: 0, duplicates: 1, path: 'slow' });
    expect(await store.store([report('twice-1', 9, 32)], cache)).toMatchObject({ stored: 1 });
    expect((await deltas('twice-1')).map((r) => Number(r.create_order))).toEqual([5, 3, 1]);
  });

  it('writes changed session facts, and text needing COPY escapes, unchanged', async () => {
    const cache: SessionCache = new Map();
    await store.store([report('facts\t1\\x', 1, 40, { hostname: 'gw-a' })], cache);
    await store.store([report('facts\t1\\x', 2, 41, { hostname: 'gw-b\nline', package_name: 'pkg\\\r' })], cache);
    const [session] = await db.query(`SELECT hostname, package_name, reports FROM metrics_session WHERE session_id = $1`, ['facts\t1\\x']);
    expect(session).toEqual({ hostname: 'gw-b\nline', package_name: 'pkg\\\r', reports: '2' });
    expect((await db.query(`SELECT package_name FROM metrics_report WHERE session_id = $1 ORDER BY kafka_offset`, ['facts\t1\\x'])).map((r) => r['package_name'])).toEqual([
      'fix-gateway',
      'pkg\\\r',
    ]);
  });
});
