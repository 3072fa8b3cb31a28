/** One UTC hour: the stored unit of the usage history. */
export const HOUR_MS = 3_600_000;

export const DAY_MS = 24 * HOUR_MS;
export type BucketSize = 'hour' | 'day';
export const BUCKET_MS: Readonly<Record<BucketSize, number>> = { hour: HOUR_MS, day: DAY_MS };
/** Most buckets one answer holds per agreement (an hourly year would be 8,760). */
export const MAX_BUCKETS = 10_000;

/** One bucket as the API answers it. */
export interface UsageBucket {
  readonly start: string;
  readonly peakLocks: number;
  readonly licenses: number;
  readonly denials: number;
}

/** The stored hours of one bucket, summed up (usage_history_hourly grouped by bucket). */
export interface StoredBucket {
  readonly start: number;
  readonly peakLocks: number;
  readonly licenses: number;
  /** Licenses after the bucket's last stored hour. */
  readonly licensesAtEnd: number;
  readonly denials: number;
}

/** What is stored of one agreement for the range. */
export interface AgreementHistory {
  readonly agreementId: string;
  /** Licenses at the end of its last stored hour before the range (0: none, not yet opened). */
  readonly licensesBefore: number;
  /** Start of the hour of the last event folded: later hours have no rows yet. */
  readonly lastEventHour: number;
  readonly stored: ReadonlyMap<number, StoredBucket>;
  /** Recorded locks by the start of the last hour each is live at: [hour, count], any order. */
  readonly locksLiveUntilHour: ReadonlyArray<readonly [number, number]>;
}

/** Bucket starts (UTC hours or days) of every bucket that overlaps [fromMs, toMs). */
export function bucketStarts(fromMs: number, toMs: number, size: BucketSize): number[] {
  const step = BUCKET_MS[size];
  const starts: number[] = [];
  for (let start = Math.floor(fromMs / step) * step; start < toMs; start += step) starts.push(start);
  return starts;
}

/**
 * The buckets of one agreement. Hours without a row had no event and no live lock when the fold
 * last passed them, or come after the last event folded: those hold what the recorded locks leave
 * live at their start (the count only falls without events, so a bucket's first such hour is its
 * peak). Licenses without a row are carried from the hour before.
 */
export function assembleBuckets(history: AgreementHistory, starts: readonly number[], size: BucketSize, nowMs: number): UsageBucket[] {
  const step = BUCKET_MS[size];
  const liveAtHour = (hour: number): number => history.locksLiveUntilHour.reduce((sum, [until, count]) => (until >= hour ? sum + count : sum), 0);
  let carried = history.licensesBefore;
  return starts.map((start) => {
    const firstUnfolded = Math.max(history.lastEventHour + HOUR_MS, start);
    const pending = firstUnfolded < start + step && firstUnfolded <= nowMs ? liveAtHour(firstUnfolded) : 0;
    const stored = history.stored.get(start);
    const bucket: UsageBucket = stored
      ? { start: new Date(start).toISOString(), peakLocks: Math.max(stored.peakLocks, pending), licenses: Math.max(stored.licenses, carried), denials: stored.denials }
      : { start: new Date(start).toISOString(), peakLocks: pending, licenses: carried, denials: 0 };
    if (stored) carried = stored.licensesAtEnd;
    return bucket;
  });
}
