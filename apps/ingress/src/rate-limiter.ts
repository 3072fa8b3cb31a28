/**
 * Token buckets per key (a gateway key, a client address): each holds up to `burst` tokens and
 * refills at `perSecond`; a request takes one. Buckets that have refilled completely are forgotten,
 * so memory follows the number of recently active keys, and `maxKeys` bounds it under a flood of
 * distinct keys (the oldest buckets go first; a forgotten bucket starts full again).
 */
export interface TokenBucketOptions {
  readonly perSecond: number;
  readonly burst: number;
  readonly maxKeys?: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly maxKeys: number;
  private lastSweepMs = 0;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) throw new Error('a token bucket needs perSecond > 0 and burst >= 1');
    this.perMs = options.perSecond / 1000;
    this.maxKeys = options.maxKeys ?? 1_000_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes a token for `key`: 0 when allowed, otherwise the milliseconds until one is available. */
  take(key: string, nowMs: number): number {
    this.sweep(nowMs);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
      bucket = { tokens: this.options.burst, updatedMs: nowMs };
      this.buckets.set(key, bucket);
    } else if (nowMs > bucket.updatedMs) {
      bucket.tokens = Math.min(this.options.burst, bucket.tokens + (nowMs - bucket.updatedMs) * this.perMs);
      bucket.updatedMs = nowMs;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.perMs);
  }

  /** About once per refill period, forgets buckets that are full again (they would behave as new ones). */
  private sweep(nowMs: number): void {
    const fullAfterMs = this.options.burst / this.perMs;
    if (nowMs - this.lastSweepMs < Math.max(1_000, fullAfterMs)) return;
    this.lastSweepMs = nowMs;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (nowMs - bucket.updatedMs) * this.perMs >= this.options.burst) this.buckets.delete(key);
    }
  }
}
