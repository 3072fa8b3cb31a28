import { parseArgs } from 'node:util';
import { UsageError, parseInstant } from './args';
import { table } from './format';

/*
 * `ledger-cli usage`: the usage history the metrics service folds from the ledger (concurrent locks
 * per agreement beside its licenses, and denied lock requests, per UTC hour or day), read from its
 * tables like `list` reads the projection. The reading mirrors apps/metrics/src/usage-history
 * (usage-history.query.ts, usage-buckets.ts), which serves the same numbers as
 * GET /v1/licenses/usage: apps cannot import each other, so a change there must be made here too
 * (usage.int.spec.ts expects the same buckets from the same rows as the metrics store's test).
 */

export const USAGE_HISTORY_HELP = `usage            [--agreement <id>] [--from <ISO time>] [--to <ISO time>] [--by hour|day]
                   peak concurrent locks beside licenses and denied lock requests per UTC hour or
                   day (default: by hour over the last 24 hours; by day over the last 30 days),
                   from the metrics service's usage history (DATABASE_URL)`;

const HOUR_MS = 3_600_000;
const BUCKET_MS = { hour: HOUR_MS, day: 24 * HOUR_MS } as const;
const DEFAULT_SPAN_MS = { hour: 24 * HOUR_MS, day: 30 * 24 * HOUR_MS } as const;
const MAX_BUCKETS = 10_000;

export interface UsageHistoryCommand {
  readonly agreementId: string | null;
  readonly fromMs: number;
  readonly toMs: number;
  readonly by: 'hour' | 'day';
}

/** `usage` options (after the word "usage"), with node:util's parser. */
export function parseUsageArgs(argv: readonly string[], nowMs: number): UsageHistoryCommand {
  let values: { agreement?: string; from?: string; to?: string; by?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { agreement: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, by: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const by = values.by ?? 'hour';
  if (by !== 'hour' && by !== 'day') throw new UsageError(`--by expects hour or day, got "${by}"`);
  if (values.agreement !== undefined && values.agreement.trim() === '') throw new UsageError('--agreement needs an agreement id');
  const toMs = values.to === undefined ? nowMs : parseInstant('to', values.to);
  const fromMs = values.from === undefined ? toMs - DEFAULT_SPAN_MS[by] : parseInstant('from', values.from);
  if (fromMs >= toMs) throw new UsageError('--from must be before --to');
  if ((toMs - fromMs) / BUCKET_MS[by] > MAX_BUCKETS) throw new UsageError(`at most ${MAX_BUCKETS} buckets: shorten the range or use --by day`);
  return { agreementId: values.agreement ?? null, fromMs, toMs, by };
}

export type RunQuery = <Row>(sql: string, params: readonly unknown[]) => Promise<Row[]>;

export interface UsageBucketRow {
  readonly start: number;
  readonly peakLocks: number;
  readonly licenses: number;
  readonly denials: number;
}

const num = (value: unknown): number => Number(value ?? 0);

/** Per agreement, its buckets over the range (as GET /v1/licenses/usage answers them). */
export async function readUsageBuckets(query: RunQuery, command: UsageHistoryCommand, nowMs: number): Promise<Map<string, UsageBucketRow[]>> {
  const step = BUCKET_MS[command.by];
  const starts: number[] = [];
  for (let start = Math.floor(command.fromMs / step) * step; start < command.toMs; start += step) starts.push(start);
  const first = starts[0] ?? command.fromMs;
  const firstIso = new Date(first).toISOString();
  const toIso = new Date(command.toMs).toISOString();
  const agreements = await query<{ agreement_id: string; last_ms: unknown }>(
    `SELECT agreement_id, (extract(epoch FROM last_event_at) * 1000)::bigint AS last_ms FROM usage_history_agreement a
     WHERE opened_at < $3::timestamptz AND ($1::text IS NOT NULL AND agreement_id = $1 OR $1::text IS NULL AND (status = 'open' OR last_event_at >= $2::timestamptz
       OR EXISTS (SELECT 1 FROM usage_history_lock l WHERE l.agreement_id = a.agreement_id AND l.expires_at_ms > $4::bigint)))
     ORDER BY agreement_id`,
    [command.agreementId, firstIso, toIso, String(first)],
  );
  const result = new Map<string, UsageBucketRow[]>();
  for (const agreement of agreements) {
    const id = agreement.agreement_id;
    const rows = await query<{ start: unknown; peak: unknown; licenses: unknown; at_end: unknown; denials: unknown }>(
      `SELECT (floor(extract(epoch FROM hour) * 1000 / $4) * $4)::bigint AS start, max(peak_locks) AS peak, max(licenses) AS licenses,
              (array_agg(licenses_at_end ORDER BY hour DESC))[1] AS at_end, sum(denials) AS denials
       FROM usage_history_hourly WHERE agreement_id = $1 AND hour >= $2::timestamptz AND hour < $3::timestamptz GROUP BY 1`,
      [id, firstIso, toIso, step],
    );
    const [before] = await query<{ at_end: unknown }>(`SELECT licenses_at_end AS at_end FROM usage_history_hourly WHERE agreement_id = $1 AND hour < $2::timestamptz ORDER BY hour DESC LIMIT 1`, [id, firstIso]);
    const locks = await query<{ until_hour: unknown; locks: unknown }>(
      `SELECT (floor((expires_at_ms - 1) / 3600000.0) * 3600000)::bigint AS until_hour, count(*) AS locks FROM usage_history_lock
       WHERE agreement_id = $1 AND expires_at_ms > $2::bigint GROUP BY 1`,
      [id, String(first)],
    );
    const stored = new Map(rows.map((row) => [num(row.start), row]));
    const lastEventHour = Math.floor(num(agreement.last_ms) / HOUR_MS) * HOUR_MS;
    // Hours after the last event folded: what the recorded locks leave live at the hour's start.
    const liveAt = (hour: number): number => locks.reduce((sum, row) => (num(row.until_hour) >= hour ? sum + num(row.locks) : sum), 0);
    let carried = num(before?.at_end);
    result.set(
      id,
      starts.map((start) => {
        const firstUnfolded = Math.max(lastEventHour + HOUR_MS, start);
        const pending = firstUnfolded < start + step && firstUnfolded <= nowMs ? liveAt(firstUnfolded) : 0;
        const row = stored.get(start);
        const bucket = row
          ? { start, peakLocks: Math.max(num(row.peak), pending), licenses: Math.max(num(row.licenses), carried), denials: num(row.denials) }
          : { start, peakLocks: pending, licenses: carried, denials: 0 };
        if (row) carried = num(row.at_end);
        return bucket;
      }),
    );
  }
  return result;
}

/** The table printed for each agreement. */
export function formatUsage(command: UsageHistoryCommand, usage: ReadonlyMap<string, readonly UsageBucketRow[]>): string[] {
  const range = `${new Date(command.fromMs).toISOString()} to ${new Date(command.toMs).toISOString()}`;
  if (usage.size === 0) return [`no usage history${command.agreementId === null ? '' : ` of agreement "${command.agreementId}"`} from ${range}`];
  const lines: string[] = [];
  for (const [agreementId, buckets] of usage) {
    if (lines.length > 0) lines.push('');
    lines.push(`agreement "${agreementId}", per UTC ${command.by}, ${range}:`);
    const cut = command.by === 'hour' ? 16 : 10;
    lines.push(...table(['START', 'PEAK LOCKS', 'LICENSES', 'DENIALS'], buckets.map((b) => [new Date(b.start).toISOString().slice(0, cut), String(b.peakLocks), String(b.licenses), String(b.denials)])));
    const peak = buckets.reduce((max, b) => Math.max(max, b.peakLocks), 0);
    const denials = buckets.reduce((sum, b) => sum + b.denials, 0);
    lines.push(`peak ${peak} lock(s) at once, ${denials} denied lock request(s)`);
  }
  return lines;
}
