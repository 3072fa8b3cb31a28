import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { CUMULATIVE_FIELDS, encodeLegacyV2, encodeTelemetryRecord, HISTOGRAM_COLUMNS, parseTelemetry, sampleTelemetryRecord, type TelemetryReport } from '@license-ledger/metrics-usage';
import { createScratchDatabase, ScratchDatabase } from '../testing/scratch-database';
import { PositionedReport, SessionCache, TelemetryStore } from './telemetry-store';

const databaseUrl = process.env['DATABASE_URL'];
if (!databaseUrl) throw new Error('DATABASE_URL must be set: run `npm test`');

jest.setTimeout(60_000);

const ns = (iso: string): string => (BigInt(Date.parse(iso)) * 1_000_000n).toString();
let offset = 0;
/** The record the ingress publishes (v3), and the older ones still read until 2026-12-08, as the sink reads them. */
const FORMATS = [
  { format: 'v3 FlatBuffers', agreement: 'store', prefix: '', read: (r: Record<string, unknown>) => parseTelemetry(encodeTelemetryRecord(r)) },
  { format: 'legacy v1 JSON', agreement: 'store-v1', prefix: 'v1-', read: (r: Record<string, unknown>) => parseTelemetry(JSON.stringify(r)) },
  { format: 'legacy v2 binary', agreement: 'store-v2', prefix: 'v2-', read: (r: Record<string, unknown>) => parseTelemetry(encodeLegacyV2(r)) },
] as const;

describe.each(FORMATS)('TelemetryStore on the real database ($format)', ({ agreement, prefix, read }) => {
  /** A report of `session` with cumulative create_order `count` and internal <=500ns bucket `count`. */
  const report = (session: string, count: number, minute: number, extra: Record<string, unknown> = {}): PositionedReport => {
    const parsed = read(
      sampleTelemetryRecord({
        session_id: prefix + session,
        agreement_id: agreement,
        nonce: randomBytes(16).toString('hex'),
        received_time_utc: ns(`2026-05-01T10:${String(minute).padStart(2, '0')}:00Z`),
        create_order: count,
        internal_latency_count_500ns: count,
        internal_latency_count_inf: count,
        ...extra,
      }),
    );
    if (!parsed.ok) throw new Error(parsed.error);
    return { report: parsed.report as TelemetryReport, partition: 0, offset: String(offset++) };
  };
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
    db.query<{ create_order: string; int_500ns: string; restart: boolean }>(`SELECT create_order, int_500ns, restart FROM metrics_report WHERE session_id = $1 ORDER BY kafka_offset`, [prefix + session]);
  const hourly = async () => (await db.query<{ reports: string; int_500ns: string }>(`SELECT reports, int_500ns FROM metrics_latency_hourly WHERE agreement_id = $1`, [agreement]))[0];
  const sessionRow = async (session: string, columns: string) => (await db.query(`SELECT ${columns} FROM metrics_session WHERE session_id = $1`, [prefix + session]))[0];

  it('stores through the cache (fast path) with the same deltas, session and roll-ups as without it', async () => {
    const cache: SessionCache = new Map();
    const a = [report('fast-1', 10, 1), report('fast-1', 25, 2), report('fast-2', 7, 3)];
    expect(await store.store(a, cache)).toMatchObject({ stored: 3, duplicates: 0, path: 'fast' });
    expect(cache.get(`${prefix}fast-1`)?.reports).toBe(2n);
    // A second batch goes from the cached state, without reading the session again.
    expect(await store.store([report('fast-1', 30, 4), report('fast-1', 2, 5)], cache)).toMatchObject({ stored: 2, restarts: 1, path: 'fast' });
    expect((await deltas('fast-1')).map((r) => [Number(r.create_order), r.restart])).toEqual([
      [10, true],
      [15, false],
      [5, false],
      [2, true],
    ]);
    expect(await sessionRow('fast-1', 'reports, restarts, last_seen')).toEqual({ reports: '4', restarts: '1', last_seen: new Date('2026-05-01T10:05:00Z') });
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
    expect(mine.has(`${prefix}handover-1`)).toBe(false);
    expect((await deltas('handover-1')).map((r) => Number(r.create_order))).toEqual([10, 30, 5]);
    expect(await sessionRow('handover-1', 'reports')).toEqual({ reports: '3' });
  });

  it('a report delivered twice in one batch, or late after newer ones, is stored once', async () => {
    const cache: SessionCache = new Map();
    const first = report('twice-1', 5, 30);
    expect(await store.store([first, first, report('twice-1', 8, 31)], cache)).toMatchObject({ stored: 2, duplicates: 1, path: 'fast' });
    expect(await store.store([first], cache)).toMatchObject({ stored: 0, duplicates: 1, path: 'slow' });
    expect(await store.store([report('twice-1', 9, 32)], cache)).toMatchObject({ stored: 1 });
    expect((await deltas('twice-1')).map((r) => Number(r.create_order))).toEqual([5, 3, 1]);
  });

  it('keeps session facts while they are unchanged, and rewrites every one that changes', async () => {
    const cache: SessionCache = new Map();
    await store.store([report('facts-2', 1, 42)], cache);
    const [{ facts_hash: hash }] = (await db.query(`SELECT facts_hash FROM metrics_session WHERE session_id = $1`, [`${prefix}facts-2`])) as [{ facts_hash: string }];
    // Counters, nonce and time differ, the facts do not: the stored hash stays.
    await store.store([report('facts-2', 5, 43, { decision: 'invalid_request' })], cache);
    expect(await sessionRow('facts-2', 'facts_hash, reports')).toEqual({ facts_hash: hash, reports: '2' });
    await store.store([report('facts-2', 6, 44, { system_uptime: '99999', cpu_affinity: [7] })], cache);
    const changed = await sessionRow('facts-2', "facts_hash, host->>'system_uptime' AS uptime, host->'cpu_affinity' AS affinity, reports");
    expect(changed).toMatchObject({ uptime: '99999', affinity: [7], reports: '3' });
    expect(changed?.['facts_hash']).not.toBe(hash);
  });

  it('tells duplicates by session and nonce together: one nonce in two sessions is two reports', async () => {
    const cache: SessionCache = new Map();
    const nonce = randomBytes(16).toString('hex');
    const a = report('nonce-a', 3, 45, { nonce });
    const b = report('nonce-b', 4, 45, { nonce });
    expect(await store.store([a, b, b, a, report('nonce-a', 5, 46)], cache)).toMatchObject({ stored: 3, duplicates: 2, path: 'fast' });
    expect((await deltas('nonce-a')).map((r) => Number(r.create_order))).toEqual([3, 2]);
    expect((await deltas('nonce-b')).map((r) => Number(r.create_order))).toEqual([4]);
  });

  it('rolls a batch spanning hours, days and apis up into the right buckets', async () => {
    const cache: SessionCache = new Map();
    const to = `${agreement}-hours`;
    const at = (iso: string, api = 'api-1') => ({ agreement_id: to, received_time_utc: ns(iso), api });
    await store.store(
      [
        report('hours-1', 1, 0, at('2026-05-01T10:59:59Z')),
        report('hours-1', 3, 0, at('2026-05-01T11:00:00Z')),
        report('hours-2', 10, 0, at('2026-05-01T10:30:00Z')),
        report('hours-1', 6, 0, at('2026-05-02T00:00:00Z')),
        report('hours-2', 30, 0, at('2026-05-01T10:31:00Z', 'api-2')),
      ],
      cache,
    );
    const hours = await db.query(`SELECT to_char(hour AT TIME ZONE 'UTC', 'DD HH24') AS h, api, reports, int_500ns FROM metrics_latency_hourly WHERE agreement_id = $1 ORDER BY 1, 2`, [to]);
    expect(hours).toEqual([
      { h: '01 10', api: 'api-1', reports: '2', int_500ns: '11' },
      { h: '01 10', api: 'api-2', reports: '1', int_500ns: '20' },
      { h: '01 11', api: 'api-1', reports: '1', int_500ns: '2' },
      { h: '02 00', api: 'api-1', reports: '1', int_500ns: '3' },
    ]);
    const days = await db.query(`SELECT to_char(day AT TIME ZONE 'UTC', 'DD') AS d, api, reports, int_500ns FROM metrics_latency_daily WHERE agreement_id = $1 ORDER BY 1, 2`, [to]);
    expect(days).toEqual([
      { d: '01', api: 'api-1', reports: '3', int_500ns: '13' },
      { d: '01', api: 'api-2', reports: '1', int_500ns: '20' },
      { d: '02', api: 'api-1', reports: '1', int_500ns: '3' },
    ]);
  });

  it('COPYs deltas beyond 2^53 and non-ASCII text exactly', async () => {
    const cache: SessionCache = new Map();
    const huge = { internal_latency_count_500ns: 0, internal_latency_count_inf: 0, api: 'äpi-€\t😀' };
    expect(await store.store([report('wide-1', 0, 50, { ...huge, create_order: '9007199254740993' }), report('wide-1', 0, 51, { ...huge, create_order: '9007199254740999' })], cache)).toMatchObject({
      stored: 2,
      path: 'fast',
    });
    const rows = await db.query(`SELECT create_order, api, restart FROM metrics_report WHERE session_id = $1 ORDER BY kafka_offset`, [`${prefix}wide-1`]);
    expect(rows).toEqual([
      { create_order: '9007199254740993', api: 'äpi-€\t😀', restart: true },
      { create_order: '6', api: 'äpi-€\t😀', restart: false },
    ]);
  });

  it('stores every value at 2^63-1 from several sessions and sums them into one hour and one day exactly, by either path', async () => {
    // The largest value validation accepts, in every counter, sum and bucket: one such report's deltas
    // fit metrics_report's bigint columns, but two of them no longer fit a bigint sum.
    const MAX = 2n ** 63n - 1n;
    const to = `${agreement}-max`;
    const max = (session: string, minute: number, extra: Record<string, unknown> = {}) =>
      report(session, 0, 0, { ...Object.fromEntries(CUMULATIVE_FIELDS.map((f) => [f, MAX.toString()])), agreement_id: to, received_time_utc: ns(`2026-05-03T10:${String(minute).padStart(2, '0')}:00Z`), ...extra });
    const cache: SessionCache = new Map();
    // Fast path: the batch's own sum is already beyond int64.
    expect(await store.store([max('max-1', 1), max('max-2', 2), max('max-3', 3)], cache)).toMatchObject({ stored: 3, path: 'fast' });
    // A restart (another process) counts 2^63-1 again; the upsert adds it to the stored sums.
    expect(await store.store([max('max-1', 4, { process_id: '4243' })], cache)).toMatchObject({ stored: 1, restarts: 1, path: 'fast' });
    // Locked path (no cache): PostgreSQL sums the inserted rows itself.
    expect(await store.store([max('max-4', 5)])).toMatchObject({ stored: 1, path: 'slow' });

    const rows = await db.query<Record<string, string>>(`SELECT create_order, cancel_quotes, int_sum, ext_inf FROM metrics_report WHERE agreement_id = $1`, [to]);
    expect(rows).toHaveLength(5);
    for (const row of rows) expect(row).toEqual({ create_order: MAX.toString(), cancel_quotes: MAX.toString(), int_sum: MAX.toString(), ext_inf: MAX.toString() });
    const sums = { reports: '5', ...Object.fromEntries(HISTOGRAM_COLUMNS.map((c) => [c, (5n * MAX).toString()])) };
    const columns = ['reports', ...HISTOGRAM_COLUMNS].map((c) => `"${c}"`).join(', ');
    expect(await db.query(`SELECT ${columns} FROM metrics_latency_hourly WHERE agreement_id = $1`, [to])).toEqual([sums]);
    expect(await db.query(`SELECT ${columns} FROM metrics_latency_daily WHERE agreement_id = $1`, [to])).toEqual([sums]);
  });

  it('writes changed session facts, and text needing COPY escapes, unchanged', async () => {
    const cache: SessionCache = new Map();
    await store.store([report('facts\t1\\x', 1, 40, { hostname: 'gw-a' })], cache);
    await store.store([report('facts\t1\\x', 2, 41, { hostname: 'gw-b\nline', package_name: 'pkg\\\r' })], cache);
    expect(await sessionRow('facts\t1\\x', 'hostname, package_name, reports')).toEqual({ hostname: 'gw-b\nline', package_name: 'pkg\\\r', reports: '2' });
    expect((await db.query(`SELECT package_name FROM metrics_report WHERE session_id = $1 ORDER BY kafka_offset`, [`${prefix}facts\t1\\x`])).map((r) => r['package_name'])).toEqual([
      'fix-gateway',
      'pkg\\\r',
    ]);
  });
});

describe('TelemetryStore across the upgrade to v3 (legacy reading until 2026-12-08)', () => {
  let db: ScratchDatabase;
  let pool: Pool;
  let store: TelemetryStore;
  beforeAll(async () => {
    db = await createScratchDatabase(databaseUrl);
    pool = new Pool({ connectionString: db.url, max: 2 });
    store = new TelemetryStore(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('carries a session on from its last v1 or v2 report to v3: the deltas continue and its facts stay', async () => {
    const report = (count: number, minute: number, encode: (r: Record<string, unknown>) => Buffer | string): PositionedReport => {
      const parsed = parseTelemetry(encode(sampleTelemetryRecord({ session_id: 'upgrade-1', nonce: randomBytes(16).toString('hex'), create_order: count, received_time_utc: ns(`2026-05-04T10:0${minute}:00Z`) })));
      if (!parsed.ok) throw new Error(parsed.error);
      return { report: parsed.report, partition: 0, offset: String(offset++) };
    };
    const cache: SessionCache = new Map();
    await store.store([report(10, 1, (r) => JSON.stringify(r)), report(15, 2, encodeLegacyV2)], cache);
    const [before] = await db.query<{ facts_hash: string }>(`SELECT facts_hash FROM metrics_session WHERE session_id = 'upgrade-1'`);
    expect(await store.store([report(22, 3, encodeTelemetryRecord)], cache)).toMatchObject({ stored: 1, restarts: 0, path: 'fast' });
    // A replica without the cache (after a rebalance) reads the session's state from the database.
    expect(await store.store([report(30, 4, encodeTelemetryRecord)], new Map())).toMatchObject({ stored: 1, restarts: 0, path: 'fast' });
    const rows = await db.query<{ create_order: string; restart: boolean }>(`SELECT create_order, restart FROM metrics_report WHERE session_id = 'upgrade-1' ORDER BY kafka_offset`);
    expect(rows.map((r) => [Number(r.create_order), r.restart])).toEqual([
      [10, true],
      [5, false],
      [7, false],
      [8, false],
    ]);
    expect(await db.query(`SELECT facts_hash, reports FROM metrics_session WHERE session_id = 'upgrade-1'`)).toEqual([{ facts_hash: before?.facts_hash, reports: '4' }]);
  });
});
