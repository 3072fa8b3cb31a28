import { createHash } from 'node:crypto';
import type { PrismaClient } from '@license-ledger/platform-database';
import {
  COUNTER_FIELDS,
  type CumulativeField,
  EXTERNAL_BUCKETS,
  FEATURE_FIELDS,
  INTERNAL_BUCKETS,
  reportDelta,
  type SessionState,
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
}

type Row = Record<string, unknown>;

const HIST_COLUMNS: ReadonlyArray<readonly [string, CumulativeField]> = [
  ['int_sum', 'internal_latency_sum'],
  ...INTERNAL_BUCKETS.map((b) => [`int_${b}`, `internal_latency_count_${b}`] as const),
  ['ext_sum', 'external_latency_sum'],
  ...EXTERNAL_BUCKETS.map((b) => [`ext_${b}`, `external_latency_count_${b}`] as const),
];
export const HISTOGRAM_COLUMNS: readonly string[] = HIST_COLUMNS.map(([column]) => column);

/** Columns of metrics_report written by the sink, with their SQL types (for jsonb_to_recordset). */
export const REPORT_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['session_id', 'text'],
  ['nonce', 'text'],
  ['agreement_id', 'text'],
  ['package_name', 'text'],
  ['api', 'text'],
  ['received_at', 'timestamptz'],
  ['request_time_utc', 'bigint'],
  ['decision', 'text'],
  ['kafka_partition', 'integer'],
  ['kafka_offset', 'bigint'],
  ['restart', 'boolean'],
  ['symbols', 'bigint'],
  ['accounts', 'bigint'],
  ['users', 'bigint'],
  ...COUNTER_FIELDS.map((f) => [f, 'bigint'] as const),
  ...FEATURE_FIELDS.map((f) => [f, 'boolean'] as const),
  ...HIST_COLUMNS.map(([column]) => [column, 'bigint'] as const),
];

const SESSION_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['session_id', 'text'],
  ['agreement_id', 'text'],
  ['key_fingerprint', 'text'],
  ['package_name', 'text'],
  ['package_version', 'text'],
  ['api', 'text'],
  ['api_name', 'text'],
  ['service_name', 'text'],
  ['instance', 'text'],
  ['hostname', 'text'],
  ['is_uat', 'boolean'],
  ['host', 'jsonb'],
  ['first_seen', 'timestamptz'],
  ['last_seen', 'timestamptz'],
  ['reports', 'bigint'],
  ['restarts', 'bigint'],
  ['facts_hash', 'text'],
  ['last_state', 'bigint[]'],
];
const SESSION_PROGRESS_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['session_id', 'text'],
  ['last_seen', 'timestamptz'],
  ['reports', 'bigint'],
  ['restarts', 'bigint'],
  ['last_state', 'bigint[]'],
];

const recordset = (columns: ReadonlyArray<readonly [string, string]>): string =>
  `jsonb_to_recordset($1::jsonb) AS r(${columns.map(([c, t]) => `"${c}" ${t}`).join(', ')})`;
const names = (columns: ReadonlyArray<readonly [string, string]>): string => columns.map(([c]) => `"${c}"`).join(', ');

const HIST_SUMS = HIST_COLUMNS.map(([c]) => `sum("${c}")`).join(', ');
const HIST_NAMES = HIST_COLUMNS.map(([c]) => `"${c}"`).join(', ');
const HIST_UPDATES = HIST_COLUMNS.map(([c]) => `"${c}" = h."${c}" + excluded."${c}"`).join(', ');
const rollUp = (table: string, bucket: string, unit: 'hour' | 'day') => `
INSERT INTO ${table} AS h (${bucket}, agreement_id, package_name, api, reports, ${HIST_NAMES})
SELECT date_trunc('${unit}', received_at, 'UTC'), coalesce(agreement_id, ''), package_name, api, count(*), ${HIST_SUMS}
FROM ins GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (${bucket}, agreement_id, package_name, api) DO UPDATE SET reports = h.reports + excluded.reports, ${HIST_UPDATES}`;

/**
 * Reports and their hourly and daily latency roll-ups in one statement: only rows actually inserted
 * (not duplicates) reach the roll-ups, grouped and sorted so concurrent writers lock roll-up rows in
 * one order.
 */
const INSERT_REPORTS = `
WITH ins AS (
  INSERT INTO metrics_report (${names(REPORT_COLUMNS)})
  SELECT ${names(REPORT_COLUMNS)} FROM ${recordset(REPORT_COLUMNS)}
  ON CONFLICT (session_id, nonce) DO NOTHING
  RETURNING *
), hourly AS (${rollUp('metrics_latency_hourly', 'hour', 'hour')})
${rollUp('metrics_latency_daily', 'day', 'day')}`;

const UPSERT_SESSIONS = `
INSERT INTO metrics_session AS s (${names(SESSION_COLUMNS)})
SELECT ${names(SESSION_COLUMNS)} FROM ${recordset(SESSION_COLUMNS)} ORDER BY session_id
ON CONFLICT (session_id) DO UPDATE SET
  agreement_id = excluded.agreement_id, key_fingerprint = excluded.key_fingerprint, package_name = excluded.package_name,
  package_version = excluded.package_version, api = excluded.api, api_name = excluded.api_name,
  service_name = excluded.service_name, instance = excluded.instance, hostname = excluded.hostname, is_uat = excluded.is_uat,
  host = CASE WHEN s.host = excluded.host THEN s.host ELSE excluded.host END, first_seen = least(s.first_seen, excluded.first_seen), last_seen = greatest(s.last_seen, excluded.last_seen),
  reports = s.reports + excluded.reports, restarts = s.restarts + excluded.restarts, facts_hash = excluded.facts_hash,
  last_state = excluded.last_state`;

/** Sessions whose facts are unchanged: only progress (the common case; keeps the statement small). */
const UPDATE_SESSIONS = `
UPDATE metrics_session AS s SET last_seen = greatest(s.last_seen, r.last_seen), reports = s.reports + r.reports,
  restarts = s.restarts + r.restarts, last_state = r.last_state
FROM ${recordset(SESSION_PROGRESS_COLUMNS)} WHERE s.session_id = r.session_id`;

/** ns since the epoch → ISO 8601 with microseconds (PostgreSQL's precision). */
export function nsToIso(ns: bigint): string {
  const us = ns / 1000n;
  const ms = us / 1000n;
  const iso = new Date(Number(ms)).toISOString();
  const micros = ((us % 1000n) + 1000n) % 1000n;
  return `${iso.slice(0, 23)}${micros.toString().padStart(3, '0')}Z`;
}

function hostFacts(r: TelemetryReport): Record<string, unknown> {
  return {
    network_hostname: r.network_hostname,
    machine_id: r.machine_id,
    machine: r.machine,
    cpuid: r.cpuid,
    cpu_vendor: r.cpu_vendor,
    cpu_brand: r.cpu_brand,
    number_of_processors: r.number_of_processors,
    cache_line_size: r.cache_line_size,
    page_size: r.page_size,
    kernel_name: r.kernel_name,
    kernel_release: r.kernel_release,
    kernel_version: r.kernel_version,
    system_uptime: r.system_uptime,
    system_total_memory: r.system_total_memory,
    system_available_memory: r.system_available_memory,
    system_total_swap: r.system_total_swap,
    system_available_swap: r.system_available_swap,
    process_id: String(r.process_id),
    process_start_time_utc: String(r.process_start_time_utc),
    process_max_rss: r.process_max_rss,
    cpu_affinity: r.cpu_affinity,
    package_build_number: r.package_build_number,
    package_build_host: r.package_build_host,
    config_hash: r.config_hash,
    symbols: r.symbols,
    total_symbols: r.total_symbols,
    accounts: r.accounts,
    users: r.users,
  };
}

/**
 * Stores telemetry reports: per report the deltas since the session's previous report, per session
 * its facts and latest cumulative values. One transaction per batch; the session rows are locked
 * first, so two writers of one session (a partition handed over mid-batch) take turns, and reports
 * already stored (same session id and nonce) are skipped before deltas are computed — a redelivered
 * message neither adds a row nor disturbs the deltas of the ones after it.
 */
export class TelemetryStore {
  constructor(private readonly prisma: PrismaClient) {}

  async store(batch: readonly PositionedReport[]): Promise<StoreResult> {
    if (batch.length === 0) return { stored: 0, duplicates: 0, restarts: 0 };
    // First occurrence of each (session, nonce) in the batch.
    const seen = new Set<string>();
    const unique: PositionedReport[] = [];
    for (const item of batch) {
      const id = `${item.report.session_id}\u0000${item.report.nonce}`;
      if (!seen.has(id)) {
        seen.add(id);
        unique.push(item);
      }
    }
    const sessionIds = [...new Set(unique.map((i) => i.report.session_id))].sort();
    return this.prisma.$transaction(
      async (tx) => {
        // One round trip: lock the batch's sessions (their latest state) and find reports already stored.
        const found = await tx.$queryRawUnsafe<Array<{ session_id: string; last_state: unknown; facts_hash: string | null; nonce: string | null }>>(
          `WITH locked AS (
             SELECT session_id, last_state::text[] AS last_state, facts_hash FROM metrics_session
             WHERE session_id IN (SELECT jsonb_array_elements_text($1::jsonb)) ORDER BY session_id FOR UPDATE)
           SELECT session_id, last_state, facts_hash, NULL::text AS nonce FROM locked
           UNION ALL
           SELECT m.session_id, NULL, NULL, m.nonce FROM metrics_report m JOIN jsonb_to_recordset($2::jsonb) AS r(s text, n text) ON m.session_id = r.s AND m.nonce = r.n`,
          JSON.stringify(sessionIds),
          JSON.stringify(unique.map((i) => ({ s: i.report.session_id, n: i.report.nonce }))),
        );
        const states = found.filter((f) => f.nonce === null);
        const existing = found.filter((f) => f.nonce !== null);
        const stored = new Set(existing.map((e) => `${e.session_id}\u0000${e.nonce}`));
        const state = new Map<string, SessionState | undefined>(states.map((s) => [s.session_id, stateFromArray(s.last_state)]));
        const storedFacts = new Map(states.map((s) => [s.session_id, s.facts_hash]));
        const sessions = new Map<string, Row & { reports: number; restarts: number; first_seen: string; last_seen: string }>();
        const rows: Row[] = [];
        let restarts = 0;
        for (const { report: r, partition, offset } of unique) {
          if (stored.has(`${r.session_id}\u0000${r.nonce}`)) continue;
          const before = state.get(r.session_id);
          const delta = reportDelta(before, r);
          state.set(r.session_id, delta.state);
          const restarted = delta.restart && before !== undefined;
          if (restarted) restarts += 1;
          const receivedAt = nsToIso(r.received_time_utc);
          const row: Row = {
            session_id: r.session_id,
            nonce: r.nonce,
            agreement_id: r.agreement_id,
            package_name: r.package_name,
            api: r.api,
            received_at: receivedAt,
            request_time_utc: String(r.request_time_utc),
            decision: r.decision,
            kafka_partition: partition,
            kafka_offset: offset,
            restart: delta.restart,
            symbols: r.symbols,
            accounts: r.accounts,
            users: r.users,
          };
          for (const f of COUNTER_FIELDS) row[f] = delta.deltas[f].toString();
          for (const f of FEATURE_FIELDS) row[f] = r[f];
          for (const [column, field] of HIST_COLUMNS) row[column] = delta.deltas[field].toString();
          rows.push(row);
          const previous = sessions.get(r.session_id);
          sessions.set(r.session_id, {
            session_id: r.session_id,
            agreement_id: r.agreement_id,
            key_fingerprint: r.key_fingerprint,
            package_name: r.package_name,
            package_version: r.package_version,
            api: r.api,
            api_name: r.api_name,
            service_name: r.service_name,
            instance: r.instance,
            hostname: r.hostname,
            is_uat: r.is_uat,
            host: hostFacts(r),
            first_seen: previous && previous.first_seen < receivedAt ? previous.first_seen : receivedAt,
            last_seen: previous && previous.last_seen > receivedAt ? previous.last_seen : receivedAt,
            reports: (previous?.reports ?? 0) + 1,
            restarts: (previous?.restarts ?? 0) + (restarted ? 1 : 0),
            last_state: stateToArray(delta.state),
          });
        }
        if (rows.length > 0) {
          await tx.$executeRawUnsafe(INSERT_REPORTS, JSON.stringify(rows));
          const changed: Row[] = [];
          const progressed: Row[] = [];
          for (const session of sessions.values()) {
            const { reports: n, restarts: k, first_seen: _firstSeen, last_seen: lastSeen, last_state: lastState, ...facts } = session;
            const factsHash = createHash('sha1').update(JSON.stringify(facts)).digest('base64');
            if (storedFacts.get(session.session_id as string) === factsHash) {
              progressed.push({ session_id: session.session_id, last_seen: lastSeen, reports: n, restarts: k, last_state: lastState });
            } else {
              changed.push({ ...session, facts_hash: factsHash });
            }
          }
          if (changed.length > 0) await tx.$executeRawUnsafe(UPSERT_SESSIONS, JSON.stringify(changed));
          if (progressed.length > 0) await tx.$executeRawUnsafe(UPDATE_SESSIONS, JSON.stringify(progressed));
        }
        return { stored: rows.length, duplicates: batch.length - rows.length, restarts };
      },
      { timeout: 60_000, maxWait: 30_000 },
    );
  }
}
