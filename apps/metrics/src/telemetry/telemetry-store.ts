import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { CopyBuffer } from './copy-buffer';
import {
  CUMULATIVE_COLUMNS,
  DeltaSums,
  deltaText,
  type FactsKey,
  HISTOGRAM_COLUMNS,
  HISTOGRAM_START,
  HOST_FIELDS,
  isoFromNsText,
  reportColumn,
  type ReportDelta,
  reportDelta,
  ROW_FIELDS,
  SESSION_FIELDS,
  type SessionState,
  sqlType,
  stateFromArray,
  stateToArray,
  type TelemetryReport,
} from '@license-ledger/metrics-usage';

/** A validated report and where it was read from. */
export interface PositionedReport {
  readonly report: TelemetryReport;
  readonly partition: number;
  readonly offset: string;
}

export interface StoreResult {
  readonly stored: number;
  readonly duplicates: number;
  readonly restarts: number;
  /** 'fast': cached/loaded state, no locks taken up front; 'slow': sessions locked and stored nonces looked up first. */
  readonly path: 'fast' | 'slow';
  /** Why the fast path was given up for this batch (absent when it was not tried or succeeded). */
  readonly fallback?: 'conflict' | 'error';
}

/**
 * What this replica last committed for a session: its cumulative state, the hash of its facts, the
 * report that carried them and metrics_session.reports after that commit. The count is the version
 * checked on the next write: any other writer of the session has changed it.
 */
export interface CachedSession {
  readonly state: SessionState;
  readonly factsHash: string;
  /** What the facts were read from (TelemetryReport.factsKey), compared instead of the facts; unknown for a session read from the database. */
  readonly factsKey: FactsKey | undefined;
  readonly reports: bigint;
}

/**
 * Sessions of one partition as this replica last stored them. Only a hint: every write checks it
 * against the database (see TelemetryStore), so a stale entry costs a retry, never a wrong delta.
 */
export type SessionCache = Map<string, CachedSession>;

/** Bounds memory: a partition cache this big is dropped and refilled from the database. */
const MAX_CACHED_SESSIONS = 200_000;
/** Reports turned into rows between two turns of the event loop. */
const COMPUTE_SLICE = 100;

type Row = Record<string, unknown>;

/** The latency histograms' columns (from the library's field list; here too for the API services that import them from the store). */

type Columns = ReadonlyArray<readonly [string, string]>;
/**
 * Columns of metrics_report written by the sink, with their SQL types (for jsonb_to_recordset), in
 * the order copyRow writes them: the report's own values (TelemetryReport.row), the sink's, then
 * the deltas of the cumulative values (CUMULATIVE_FIELDS order).
 */
export const REPORT_COLUMNS: Columns = [
  ...ROW_FIELDS.map((f) => [reportColumn(f) as string, sqlType(f)] as const),
  ['kafka_partition', 'integer'],
  ['kafka_offset', 'bigint'],
  ['restart', 'boolean'],
  ...CUMULATIVE_COLUMNS.map((c) => [c, 'bigint'] as const),
];

/** metrics_session: the session's fact columns, its host facts (jsonb), then its progress. */
const SESSION_COLUMNS: Columns = [
  ...SESSION_FIELDS.map((f) => [f.name, sqlType(f)] as const),
  ['host', 'jsonb'],
  ['first_seen', 'timestamptz'],
  ['last_seen', 'timestamptz'],
  ['reports', 'bigint'],
  ['restarts', 'bigint'],
  ['facts_hash', 'text'],
  ['last_state', 'bigint[]'],
];
const SESSION_PROGRESS_COLUMNS: Columns = [
  ['session_id', 'text'],
  ['last_seen', 'timestamptz'],
  ['reports', 'bigint'],
  ['restarts', 'bigint'],
  ['last_state', 'bigint[]'],
];
/**
 * A batch's roll-up sums. The summed columns are numeric, as in the tables: each delta fits bigint
 * (it is at most its cumulative value, which validation keeps within 2^63-1), but a sum of them need
 * not (DeltaSums keeps them exact on this side).
 */
const ROLL_UP_COLUMNS: Columns = [
  ['bucket', 'timestamptz'],
  ['agreement_id', 'text'],
  ['package_name', 'text'],
  ['api', 'text'],
  ['reports', 'bigint'],
  ...HISTOGRAM_COLUMNS.map((column) => [column, 'numeric'] as const),
];

const recordset = (columns: Columns, param = '$1'): string =>
  `jsonb_to_recordset(${param}::jsonb) AS r(${columns.map(([c, t]) => `"${c}" ${t}`).join(', ')})`;
const names = (columns: Columns): string => columns.map(([c]) => `"${c}"`).join(', ');

const HIST_SUMS = HISTOGRAM_COLUMNS.map((c) => `sum("${c}")`).join(', ');
const HIST_NAMES = HISTOGRAM_COLUMNS.map((c) => `"${c}"`).join(', ');
const HIST_UPDATES = HISTOGRAM_COLUMNS.map((c) => `"${c}" = h."${c}" + excluded."${c}"`).join(', ');
const rollUp = (table: string, bucket: string, unit: 'hour' | 'day') => `
INSERT INTO ${table} AS h (${bucket}, agreement_id, package_name, api, reports, ${HIST_NAMES})
SELECT date_trunc('${unit}', received_at, 'UTC'), coalesce(agreement_id, ''), package_name, api, count(*), ${HIST_SUMS}
FROM ins GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (${bucket}, agreement_id, package_name, api) DO UPDATE SET reports = h.reports + excluded.reports, ${HIST_UPDATES}`;

/**
 * Slow path: reports and their hourly and daily latency roll-ups in one statement: only rows
 * actually inserted (not duplicates) reach the roll-ups, grouped and sorted so concurrent writers
 * lock roll-up rows in one order. sum() of bigint is numeric, and so are the roll-up columns: no
 * step of the addition is bigint.
 */
const INSERT_REPORTS = `
WITH ins AS (
  INSERT INTO metrics_report (${names(REPORT_COLUMNS)})
  SELECT ${names(REPORT_COLUMNS)} FROM ${recordset(REPORT_COLUMNS)}
  ON CONFLICT (session_id, nonce) DO NOTHING
  RETURNING received_at, agreement_id, package_name, api, ${HIST_NAMES}
), hourly AS (${rollUp('metrics_latency_hourly', 'hour', 'hour')})
${rollUp('metrics_latency_daily', 'day', 'day')}`;

const SESSION_UPDATES = `
  ${SESSION_FIELDS.filter((f) => f.name !== 'session_id').map((f) => `"${f.name}" = excluded."${f.name}"`).join(', ')},
  host = CASE WHEN s.host = excluded.host THEN s.host ELSE excluded.host END, first_seen = least(s.first_seen, excluded.first_seen), last_seen = greatest(s.last_seen, excluded.last_seen),
  reports = s.reports + excluded.reports, restarts = s.restarts + excluded.restarts, facts_hash = excluded.facts_hash,
  last_state = excluded.last_state`;

const UPSERT_SESSIONS = `
INSERT INTO metrics_session AS s (${names(SESSION_COLUMNS)})
SELECT ${names(SESSION_COLUMNS)} FROM ${recordset(SESSION_COLUMNS)} ORDER BY session_id
ON CONFLICT (session_id) DO UPDATE SET ${SESSION_UPDATES}`;

/** Sessions whose facts are unchanged: only progress (the common case; keeps the statement small). */
const UPDATE_SESSIONS = `
UPDATE metrics_session AS s SET last_seen = greatest(s.last_seen, r.last_seen), reports = s.reports + r.reports,
  restarts = s.restarts + r.restarts, last_state = r.last_state
FROM ${recordset(SESSION_PROGRESS_COLUMNS)} WHERE s.session_id = r.session_id`;

/**
 * Fast path, sessions: every write is conditional on metrics_session.reports still being the count
 * this replica last committed (or on the row still not existing). Returns how many rows each part
 * wrote; fewer than sent means another writer got there first, and the batch goes the slow way.
 * Sessions are taken in session id order, as the slow path's FOR UPDATE takes them.
 */
const FAST_SESSIONS = `
WITH progressed AS (
  UPDATE metrics_session AS s SET last_seen = greatest(s.last_seen, r.last_seen), reports = s.reports + r.reports,
    restarts = s.restarts + r.restarts, last_state = r.last_state
  FROM (SELECT * FROM ${recordset([...SESSION_PROGRESS_COLUMNS, ['expected', 'bigint']], '$1')} ORDER BY session_id) AS r
  WHERE s.session_id = r.session_id AND s.reports = r.expected
  RETURNING 1
), changed AS (
  UPDATE metrics_session AS s SET ${SESSION_UPDATES.replace(/excluded\./g, 'r.')}
  FROM (SELECT * FROM ${recordset([...SESSION_COLUMNS, ['expected', 'bigint']], '$2')} ORDER BY session_id) AS r
  WHERE s.session_id = r.session_id AND s.reports = r.expected
  RETURNING 1
), created AS (
  INSERT INTO metrics_session (${names(SESSION_COLUMNS)})
  SELECT ${names(SESSION_COLUMNS)} FROM ${recordset(SESSION_COLUMNS, '$3')} ORDER BY session_id
  ON CONFLICT (session_id) DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM progressed)::int AS progressed, (SELECT count(*) FROM changed)::int AS changed, (SELECT count(*) FROM created)::int AS created`;

/** Fast path, roll-ups: the batch's sums (computed here from rows COPY stored, all or none), in key order. */
const rollUpSums = (table: string, bucket: string, param: string) => `
INSERT INTO ${table} AS h (${bucket}, agreement_id, package_name, api, reports, ${HIST_NAMES})
SELECT ${names(ROLL_UP_COLUMNS)} FROM ${recordset(ROLL_UP_COLUMNS, param)} ORDER BY 1, 2, 3, 4
ON CONFLICT (${bucket}, agreement_id, package_name, api) DO UPDATE SET reports = h.reports + excluded.reports, ${HIST_UPDATES}`;
const FAST_ROLL_UPS = `WITH hourly AS (${rollUpSums('metrics_latency_hourly', 'hour', '$1')}) ${rollUpSums('metrics_latency_daily', 'day', '$2')}`;

const COPY_REPORTS = `COPY metrics_report (${names(REPORT_COLUMNS)}) FROM STDIN`;

const LOAD_SESSIONS = `SELECT session_id, last_state::text[] AS last_state, facts_hash, reports::text AS reports FROM metrics_session WHERE session_id = ANY($1::text[])`;


/** A session's facts as stored: its metrics_session fact columns and host facts (in this order they feed the facts hash). */
function sessionFacts(r: TelemetryReport): Row {
  const facts: Row = {};
  for (const { name } of SESSION_FIELDS) facts[name] = r[name];
  const host: Row = {};
  for (const { name } of HOST_FIELDS) host[name] = r[name];
  facts['host'] = host;
  return facts;
}

const factsHashOf = (facts: Row): string => createHash('sha1').update(JSON.stringify(facts)).digest('base64');

// Hot-loop copies of the library's constants: its `export *` re-exports are getters in the built
// CommonJS, called on every use (they showed in profiles).
const CUMULATIVE_COUNT = CUMULATIVE_COLUMNS.length;
const ISO_FROM_NS_TEXT = isoFromNsText;
/** How copyRow writes each of the report's row values. */
const TEXT = 0, TIMESTAMP = 1, BOOLEAN = 2;
const ROW_WRITES = ROW_FIELDS.map((f) => (sqlType(f) === 'timestamptz' ? TIMESTAMP : f.type === 'bool' ? BOOLEAN : TEXT));

/** The report's metrics_report row as one COPY row, in REPORT_COLUMNS order. */
function copyRow(out: CopyBuffer, r: TelemetryReport, partition: number, offset: string, delta: ReportDelta): void {
  const row = r.row;
  for (let c = 0; c < ROW_WRITES.length; c++) {
    const write = ROW_WRITES[c];
    if (write === BOOLEAN) out.bool(row[c] as boolean);
    else if (write === TIMESTAMP) out.text(ISO_FROM_NS_TEXT(row[c] as string));
    else out.text(row[c] as string | null);
    out.tab();
  }
  out.integer(partition);
  out.tab();
  out.text(offset);
  out.tab();
  out.bool(delta.restart);
  const big = delta.deltasBig !== undefined;
  const d = delta.deltas;
  for (let i = 0; i < CUMULATIVE_COUNT; i++) {
    out.tab();
    if (big) out.text(deltaText(delta, i));
    else out.integer(d[i] as number);
  }
  out.endRow();
}

/** The same row as an object, for the slow path's jsonb_to_recordset. */
function reportRow(r: TelemetryReport, partition: number, offset: string, delta: ReportDelta): Row {
  const row: Row = {};
  ROW_FIELDS.forEach((f, c) => (row[reportColumn(f) as string] = ROW_WRITES[c] === TIMESTAMP ? ISO_FROM_NS_TEXT(r.row[c] as string) : r.row[c]));
  row['kafka_partition'] = partition;
  row['kafka_offset'] = offset;
  row['restart'] = delta.restart;
  CUMULATIVE_COLUMNS.forEach((column, i) => (row[column] = deltaText(delta, i)));
  return row;
}

/** Latency sums of one roll-up row-to-be. */
interface RollUpSum {
  readonly bucket: string;
  readonly agreement: string;
  readonly packageName: string;
  readonly api: string;
  reports: number;
  /** HISTOGRAM_COLUMNS order. */
  readonly sums: DeltaSums;
}

function rollUpEntry(target: Map<string, RollUpSum>, bucket: string, agreement: string, packageName: string, api: string): RollUpSum {
  const key = `${bucket}\u0000${agreement}\u0000${packageName}\u0000${api}`;
  let entry = target.get(key);
  if (!entry) {
    entry = { bucket, agreement, packageName, api, reports: 0, sums: new DeltaSums(HISTOGRAM_COLUMNS.length) };
    target.set(key, entry);
  }
  return entry;
}

/**
 * The batch's hourly sums, found per report through nested maps (agreement, package, api, hour):
 * no key string built for each report. Same buckets as rollUpEntry with `${received_at[0..13]}:00:00Z`.
 */
class HourlySums {
  private readonly index = new Map<string, Map<string, Map<string, Map<string, RollUpSum>>>>();
  readonly entries: RollUpSum[] = [];
  // A batch's reports mostly share their hour: its bucket text is made once.
  private prefix: string | undefined;
  private bucket = '';

  entry(receivedAt: string, agreement: string, packageName: string, api: string): RollUpSum {
    if (this.prefix === undefined || !receivedAt.startsWith(this.prefix)) {
      this.prefix = receivedAt.slice(0, 13);
      this.bucket = `${this.prefix}:00:00Z`;
    }
    let byPackage = this.index.get(agreement);
    if (!byPackage) this.index.set(agreement, (byPackage = new Map()));
    let byApi = byPackage.get(packageName);
    if (!byApi) byPackage.set(packageName, (byApi = new Map()));
    let byHour = byApi.get(api);
    if (!byHour) byApi.set(api, (byHour = new Map()));
    let entry = byHour.get(this.bucket);
    if (!entry) {
      entry = { bucket: this.bucket, agreement, packageName, api, reports: 0, sums: new DeltaSums(HISTOGRAM_COLUMNS.length) };
      byHour.set(this.bucket, entry);
      this.entries.push(entry);
    }
    return entry;
  }
}

const rollUpJson = (sums: Iterable<RollUpSum>): string =>
  JSON.stringify(
    [...sums].map((s) => {
      const row: Row = { bucket: s.bucket, agreement_id: s.agreement, package_name: s.packageName, api: s.api, reports: s.reports };
      HISTOGRAM_COLUMNS.forEach((column, i) => (row[column] = s.sums.text(i)));
      return row;
    }),
  );

/** The fast path's conditional writes found another writer's work: retry the batch the slow way. */
class StaleCacheError extends Error {
  constructor() {
    super('session state changed under the cache');
  }
}

interface SessionProgress {
  readonly id: string;
  readonly before: CachedSession | undefined;
  firstSeen: string;
  lastSeen: string;
  reports: number;
  restarts: number;
  /** Cumulative state after the session's latest report so far (before the batch: the cached one). */
  state: SessionState | undefined;
  last: TelemetryReport;
}

/**
 * Stores telemetry reports: per report the deltas since the session's previous report, per session
 * its facts and latest cumulative values, per hour and day the latency sums. One transaction per
 * batch, and either of two ways:
 *
 * - fast (normal): deltas from the partition's session cache (sessions missing from it are read,
 *   unlocked); reports are COPYed straight into metrics_report, so a report already stored fails the
 *   whole COPY (unique (session_id, nonce)); every session write is conditional on the stored report
 *   count still being what the cache says. Any of these failing rolls everything back.
 * - slow (after a fast failure, or without a cache): the sessions are locked first (FOR UPDATE, in
 *   session id order), stored reports are looked up by (session id, nonce) and skipped before deltas
 *   are computed, and the rest inserted with ON CONFLICT DO NOTHING.
 *
 * Either way a redelivered message neither adds a row nor disturbs the deltas after it, and two
 * writers of one session (a partition handed over mid-batch) cannot both commit from the same state.
 */
export class TelemetryStore {
  constructor(private readonly pool: Pool) {}

  async store(batch: readonly PositionedReport[], cache?: SessionCache): Promise<StoreResult> {
    if (batch.length === 0) return { stored: 0, duplicates: 0, restarts: 0, path: 'fast' };
    // First occurrence of each (session, nonce) in the batch. By nonce first (random, so nearly
    // always unique): a composite key string only for a nonce seen before.
    const byNonce = new Map<string, string>();
    const seen = new Set<string>();
    const unique: PositionedReport[] = [];
    for (const item of batch) {
      const { session_id: session, nonce } = item.report;
      const other = byNonce.get(nonce);
      if (other === undefined) byNonce.set(nonce, session);
      else {
        const id = `${session}\u0000${nonce}`;
        if (other === session || seen.has(id)) continue;
        seen.add(id);
      }
      unique.push(item);
    }
    const sessionIds = [...new Set(unique.map((i) => i.report.session_id))].sort();
    if (!cache) return this.storeSlow(batch.length, unique, sessionIds);
    const client = await this.pool.connect();
    let fallback: 'conflict' | 'error';
    try {
      const result = await this.storeFast(client, batch.length, unique, sessionIds, cache);
      client.release();
      return result;
    } catch (error) {
      fallback = error instanceof StaleCacheError || isConflict(error) ? 'conflict' : 'error';
      await client.query('ROLLBACK').then(
        () => client.release(),
        (rollbackError: unknown) => client.release(rollbackError instanceof Error ? rollbackError : true),
      );
    }
    // The cache is wrong about some session (or the database failed): forget the batch's sessions.
    for (const id of sessionIds) cache.delete(id);
    return { ...(await this.storeSlow(batch.length, unique, sessionIds)), fallback };
  }

  private async storeFast(client: PoolClient, received: number, unique: readonly PositionedReport[], sessionIds: readonly string[], cache: SessionCache): Promise<StoreResult> {
    const missing = sessionIds.filter((id) => !cache.has(id));
    const loaded = new Map<string, CachedSession>();
    if (missing.length > 0) {
      // Unlocked read: the conditional writes below notice if it is overtaken before commit.
      const found = await client.query<{ session_id: string; last_state: unknown; facts_hash: string; reports: string }>(LOAD_SESSIONS, [missing]);
      for (const s of found.rows) {
        const state = stateFromArray(s.last_state);
        if (state) loaded.set(s.session_id, { state, factsHash: s.facts_hash, factsKey: undefined, reports: BigInt(s.reports) });
        // A row without a usable state can only be handled by the slow path's upsert.
        else throw new StaleCacheError();
      }
    }
    const progress = new Map<string, SessionProgress>();
    const hourly = new HourlySums();
    // ~300 bytes a row; grows if need be.
    const rows = new CopyBuffer(unique.length * 320);
    let restarts = 0;
    let index = 0;
    for (const { report: r, partition, offset } of unique) {
      // No transaction is open yet: yield now and then so other partitions' transactions can finish.
      if (++index % COMPUTE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      let session = progress.get(r.session_id);
      if (!session) {
        const before = cache.get(r.session_id) ?? loaded.get(r.session_id);
        session = { id: r.session_id, before, firstSeen: '', lastSeen: '', reports: 0, restarts: 0, state: before?.state, last: r };
        progress.set(r.session_id, session);
      }
      const previous = session.state;
      const delta = reportDelta(previous, r);
      const restarted = delta.restart && previous !== undefined;
      if (restarted) restarts += 1;
      const receivedAt = r.received_at;
      copyRow(rows, r, partition, offset, delta);
      const entry = hourly.entry(receivedAt, r.agreement_id ?? '', r.package_name, r.api);
      entry.reports += 1;
      entry.sums.addDelta(delta, HISTOGRAM_START);
      if (session.reports === 0 || receivedAt < session.firstSeen) session.firstSeen = receivedAt;
      if (session.reports === 0 || receivedAt > session.lastSeen) session.lastSeen = receivedAt;
      session.reports += 1;
      if (restarted) session.restarts += 1;
      session.state = delta.state;
      session.last = r;
    }
    const daily = new Map<string, RollUpSum>();
    for (const h of hourly.entries) {
      const entry = rollUpEntry(daily, `${h.bucket.slice(0, 10)}T00:00:00Z`, h.agreement, h.packageName, h.api);
      entry.reports += h.reports;
      entry.sums.merge(h.sums);
    }

    const progressed: Row[] = [];
    const changed: Row[] = [];
    const created: Row[] = [];
    const committed = new Map<string, CachedSession>();
    for (const s of progress.values()) {
      const state = s.state as SessionState; // every session here had at least one report
      const lastState = stateToArray(state);
      const before = s.before;
      // Unchanged facts keep their key; anything else is hashed (and a key taken for next time).
      const unchanged = before?.factsKey !== undefined && s.last.hasFactsKey(before.factsKey);
      const factsHash = unchanged ? before.factsHash : factsHashOf(sessionFacts(s.last));
      if (before && before.factsHash === factsHash) {
        progressed.push({ session_id: s.id, last_seen: s.lastSeen, reports: s.reports, restarts: s.restarts, last_state: lastState, expected: before.reports.toString() });
      } else {
        const row = { ...sessionFacts(s.last), first_seen: s.firstSeen, last_seen: s.lastSeen, reports: s.reports, restarts: s.restarts, facts_hash: factsHash, last_state: lastState };
        if (before) changed.push({ ...row, expected: before.reports.toString() });
        else created.push(row);
      }
      committed.set(s.id, { state, factsHash, factsKey: unchanged ? before.factsKey : s.last.factsKey(), reports: (before?.reports ?? 0n) + BigInt(s.reports) });
    }

    // Queued together: pg sends each as soon as the previous one is answered, without waiting for us.
    const begun = client.query('BEGIN');
    const writing = client.query<{ progressed: number; changed: number; created: number }>(FAST_SESSIONS, [
      JSON.stringify(progressed),
      JSON.stringify(changed),
      JSON.stringify(created),
    ]);
    const [began, wrote] = await Promise.allSettled([begun, writing]);
    if (began.status === 'rejected') throw began.reason;
    if (wrote.status === 'rejected') throw wrote.reason;
    const counts = wrote.value.rows[0];
    if (!counts || counts.progressed !== progressed.length || counts.changed !== changed.length || counts.created !== created.length) throw new StaleCacheError();
    await copyRows(client, rows.bytes());
    // Last, so the roll-up rows every partition shares stay locked only until the commit right after.
    // The commit is queued right behind: the shared rows are not held while this process is busy.
    // Should the roll-ups fail, PostgreSQL answers that COMMIT with a rollback and the error surfaces here.
    const rolling = client.query(FAST_ROLL_UPS, [rollUpJson(hourly.entries), rollUpJson(daily.values())]);
    const committing = client.query('COMMIT');
    const [rolled, commit] = await Promise.allSettled([rolling, committing]);
    if (rolled.status === 'rejected') throw rolled.reason;
    if (commit.status === 'rejected') throw commit.reason;

    if (cache.size + committed.size > MAX_CACHED_SESSIONS) cache.clear();
    for (const [id, entry] of committed) cache.set(id, entry);
    return { stored: rows.rows, duplicates: received - rows.rows, restarts, path: 'fast' };
  }

  private async storeSlow(received: number, unique: readonly PositionedReport[], sessionIds: readonly string[]): Promise<StoreResult> {
    return this.inTransaction(async (tx) => {
      // One round trip: lock the batch's sessions (their latest state) and find reports already stored.
      const { rows: found } = await tx.query<{ session_id: string; last_state: unknown; facts_hash: string | null; nonce: string | null }>(
        `WITH locked AS (
           SELECT session_id, last_state::text[] AS last_state, facts_hash FROM metrics_session
           WHERE session_id = ANY($1::text[]) ORDER BY session_id FOR UPDATE)
         SELECT session_id, last_state, facts_hash, NULL::text AS nonce FROM locked
         UNION ALL
         SELECT m.session_id, NULL, NULL, m.nonce FROM metrics_report m JOIN jsonb_to_recordset($2::jsonb) AS r(s text, n text) ON m.session_id = r.s AND m.nonce = r.n`,
        [sessionIds, JSON.stringify(unique.map((i) => ({ s: i.report.session_id, n: i.report.nonce })))],
      );
      const states = found.filter((f) => f.nonce === null);
      const existing = found.filter((f) => f.nonce !== null);
      const stored = new Set(existing.map((e) => `${e.session_id}\u0000${e.nonce}`));
      const state = new Map<string, SessionState | undefined>(states.map((s) => [s.session_id, stateFromArray(s.last_state)]));
      const storedFacts = new Map(states.map((s) => [s.session_id, s.facts_hash]));
      const sessions = new Map<string, { last: TelemetryReport; reports: number; restarts: number; first_seen: string; last_seen: string; last_state: string[] }>();
      const rows: Row[] = [];
      let restarts = 0;
      for (const { report: r, partition, offset } of unique) {
        if (stored.has(`${r.session_id}\u0000${r.nonce}`)) continue;
        const before = state.get(r.session_id);
        const delta = reportDelta(before, r);
        state.set(r.session_id, delta.state);
        const restarted = delta.restart && before !== undefined;
        if (restarted) restarts += 1;
        const receivedAt = r.received_at;
        rows.push(reportRow(r, partition, offset, delta));
        const previous = sessions.get(r.session_id);
        sessions.set(r.session_id, {
          last: r,
          first_seen: previous && previous.first_seen < receivedAt ? previous.first_seen : receivedAt,
          last_seen: previous && previous.last_seen > receivedAt ? previous.last_seen : receivedAt,
          reports: (previous?.reports ?? 0) + 1,
          restarts: (previous?.restarts ?? 0) + (restarted ? 1 : 0),
          last_state: stateToArray(delta.state),
        });
      }
      if (rows.length > 0) {
        await tx.query(INSERT_REPORTS, [JSON.stringify(rows)]);
        const changed: Row[] = [];
        const progressed: Row[] = [];
        for (const session of sessions.values()) {
          const facts = sessionFacts(session.last);
          const factsHash = factsHashOf(facts);
          const progress = { last_seen: session.last_seen, reports: session.reports, restarts: session.restarts, last_state: session.last_state };
          if (storedFacts.get(session.last.session_id) === factsHash) progressed.push({ session_id: session.last.session_id, ...progress });
          else changed.push({ ...facts, ...progress, first_seen: session.first_seen, facts_hash: factsHash });
        }
        if (changed.length > 0) await tx.query(UPSERT_SESSIONS, [JSON.stringify(changed)]);
        if (progressed.length > 0) await tx.query(UPDATE_SESSIONS, [JSON.stringify(progressed)]);
      }
      return { stored: rows.length, duplicates: received - rows.length, restarts, path: 'slow' as const };
    });
  }

  private async inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      await client.query('ROLLBACK').then(
        () => client.release(),
        (rollbackError: unknown) => client.release(rollbackError instanceof Error ? rollbackError : true),
      );
      throw error;
    }
  }
}

/** A report already stored (unique violation), or two writers of one session deadlocked. */
function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === '40P01' || code === '40001';
}

/** Streams the rows through COPY FROM STDIN, in CopyData messages of 64 KiB (views, not copies). */
async function copyRows(client: PoolClient, rows: Buffer): Promise<void> {
  const stream = client.query(copyFrom(COPY_REPORTS));
  const finished = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  const CHUNK = 65_536;
  let at = 0;
  for (; rows.length - at > CHUNK; at += CHUNK) stream.write(rows.subarray(at, at + CHUNK));
  stream.end(rows.subarray(at));
  await finished;
}
