import { AgreementHistory, assembleBuckets, BUCKET_MS, BucketSize, bucketStarts, StoredBucket, UsageBucket } from './usage-buckets';

/** Anything that runs a parameterised SQL query and answers its rows (Prisma's $queryRawUnsafe, pg). */
export type RunQuery = <Row>(sql: string, params: readonly unknown[]) => Promise<Row[]>;

export interface UsageHistoryRequest {
  /** One agreement, or null for every agreement with history in the range. */
  readonly agreement: string | null;
  readonly fromMs: number;
  readonly toMs: number;
  readonly by: BucketSize;
  readonly nowMs: number;
}

export interface UsageHistoryAnswer {
  readonly by: BucketSize;
  readonly from: string;
  readonly to: string;
  readonly agreements: ReadonlyArray<{ readonly agreement: string; readonly buckets: readonly UsageBucket[] }>;
}

const num = (value: unknown): number => Number(value ?? 0);

/**
 * The usage history of [from, to) in UTC hour or day buckets (see usage-buckets.ts for how hours
 * without rows are filled). Without an agreement: every agreement opened before `to` that is open,
 * had events in the range or still had live locks at its start.
 */
export async function readUsageHistory(query: RunQuery, request: UsageHistoryRequest): Promise<UsageHistoryAnswer> {
  const { agreement, fromMs, toMs, by, nowMs } = request;
  const starts = bucketStarts(fromMs, toMs, by);
  const first = starts[0] ?? fromMs;
  const answer = { by, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  const agreements = await query<{ agreement_id: string; last_ms: string }>(
    `SELECT agreement_id, (extract(epoch FROM last_event_at) * 1000)::bigint AS last_ms
     FROM usage_history_agreement a
     WHERE opened_at < $3::timestamptz
       AND ($1::text IS NOT NULL AND agreement_id = $1
         OR $1::text IS NULL AND (status = 'open' OR last_event_at >= $2::timestamptz
           OR EXISTS (SELECT 1 FROM usage_history_lock l WHERE l.agreement_id = a.agreement_id AND l.expires_at_ms > $4::bigint)))
     ORDER BY agreement_id`,
    [agreement, new Date(first).toISOString(), new Date(toMs).toISOString(), String(first)],
  );
  if (agreements.length === 0 || starts.length === 0) return { ...answer, agreements: agreements.map((a) => ({ agreement: a.agreement_id, buckets: [] })) };
  const ids = agreements.map((a) => a.agreement_id);
  const step = BUCKET_MS[by];
  const [rows, before, locks] = await Promise.all([
    query<{ agreement_id: string; start: string; peak: number; licenses: string; at_end: string; denials: string }>(
      `SELECT agreement_id, (floor(extract(epoch FROM hour) * 1000 / $4) * $4)::bigint AS start, max(peak_locks) AS peak, max(licenses) AS licenses,
              (array_agg(licenses_at_end ORDER BY hour DESC))[1] AS at_end, sum(denials) AS denials
       FROM usage_history_hourly
       WHERE agreement_id = ANY($1::text[]) AND hour >= $2::timestamptz AND hour < $3::timestamptz
       GROUP BY 1, 2`,
      [ids, new Date(first).toISOString(), new Date(toMs).toISOString(), step],
    ),
    query<{ agreement_id: string; at_end: string }>(
      `SELECT DISTINCT ON (agreement_id) agreement_id, licenses_at_end AS at_end FROM usage_history_hourly
       WHERE agreement_id = ANY($1::text[]) AND hour < $2::timestamptz ORDER BY agreement_id, hour DESC`,
      [ids, new Date(first).toISOString()],
    ),
    // Per lock, the start of the last hour it is live at (expiry - 1 ms, floored to the hour).
    query<{ agreement_id: string; until_hour: string; locks: string }>(
      `SELECT agreement_id, (floor((expires_at_ms - 1) / 3600000.0) * 3600000)::bigint AS until_hour, count(*) AS locks
       FROM usage_history_lock WHERE agreement_id = ANY($1::text[]) AND expires_at_ms > $2::bigint GROUP BY 1, 2`,
      [ids, String(first)],
    ),
  ]);
  const storedOf = new Map<string, Map<number, StoredBucket>>();
  for (const row of rows) {
    const bucket: StoredBucket = { start: num(row.start), peakLocks: num(row.peak), licenses: num(row.licenses), licensesAtEnd: num(row.at_end), denials: num(row.denials) };
    const of = storedOf.get(row.agreement_id) ?? new Map<number, StoredBucket>();
    storedOf.set(row.agreement_id, of.set(bucket.start, bucket));
  }
  const licensesBefore = new Map(before.map((row) => [row.agreement_id, num(row.at_end)]));
  const locksOf = new Map<string, Array<readonly [number, number]>>();
  for (const row of locks) locksOf.set(row.agreement_id, [...(locksOf.get(row.agreement_id) ?? []), [num(row.until_hour), num(row.locks)] as const]);
  return {
    ...answer,
    agreements: agreements.map((a) => {
      const history: AgreementHistory = {
        agreementId: a.agreement_id,
        licensesBefore: licensesBefore.get(a.agreement_id) ?? 0,
        lastEventHour: Math.floor(num(a.last_ms) / 3_600_000) * 3_600_000,
        stored: storedOf.get(a.agreement_id) ?? new Map(),
        locksLiveUntilHour: locksOf.get(a.agreement_id) ?? [],
      };
      return { agreement: a.agreement_id, buckets: assembleBuckets(history, starts, by, nowMs) };
    }),
  };
}
