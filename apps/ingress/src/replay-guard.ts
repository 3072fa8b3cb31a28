/**
 * Freshness of license requests: the request time must be within `windowMs` of the server's clock,
 * and a (gateway key, nonce) pair is accepted once within that window. A pair is remembered until
 * its request time is older than the window, after which the time check alone refuses it.
 *
 * In memory, per ingress instance: a replay sent to another instance within the window is not
 * caught here. That is harmless: request ids are derived from key and nonce, so the ledger answers
 * a replay with the first decision and never takes a second lock, and only the gateway can open
 * the answer.
 */
export type FreshnessVerdict = { readonly ok: true } | { readonly ok: false; readonly message: string };

export class ReplayGuard {
  /** id -> time (ms) after which the entry may be forgotten. */
  private readonly seen = new Map<string, number>();
  /** Expiry buckets of one second: bucket start (ms) -> ids. */
  private readonly buckets = new Map<number, string[]>();
  private sweptUntilMs = 0;

  constructor(private readonly windowMs: number, private readonly maxEntries = 5_000_000) {}

  get size(): number {
    return this.seen.size;
  }

  /** Checks the request time; `requestTimeNs` is ns since the epoch as sent by the gateway. */
  checkTime(requestTimeNs: bigint, nowMs: number): FreshnessVerdict {
    const requestMs = Number(requestTimeNs / 1_000_000n);
    const skewMs = requestMs - nowMs;
    if (Math.abs(skewMs) <= this.windowMs) return { ok: true };
    const direction = skewMs > 0 ? 'ahead of' : 'behind';
    return { ok: false, message: `request_time_utc is ${Math.round(Math.abs(skewMs) / 1000)} s ${direction} the server's clock; at most ${this.windowMs / 1000} s is accepted (check the gateway's clock)` };
  }

  /**
   * Records `id` (gateway key + nonce) as used; false when it was used within the window already.
   * Call after checkTime accepted `requestTimeNs`.
   */
  claim(id: string, requestTimeNs: bigint, nowMs: number): boolean {
    this.sweep(nowMs);
    if (this.seen.has(id)) return false;
    // Full (a flood of distinct keys got past the rate limits): accept without remembering. Replays
    // are harmless to the ledger (see above); memory is not.
    if (this.seen.size >= this.maxEntries) return true;
    const forgetAtMs = Number(requestTimeNs / 1_000_000n) + this.windowMs + 1_000;
    this.seen.set(id, forgetAtMs);
    const bucket = Math.floor(forgetAtMs / 1000) * 1000;
    const ids = this.buckets.get(bucket);
    if (ids) ids.push(id);
    else this.buckets.set(bucket, [id]);
    return true;
  }

  /** Forgets `id`, so the same request may be retried (after the ledger did not answer in time). */
  release(id: string): void {
    this.seen.delete(id);
  }

  private sweep(nowMs: number): void {
    const until = Math.floor(nowMs / 1000) * 1000;
    if (until <= this.sweptUntilMs) return;
    this.sweptUntilMs = until;
    for (const [bucket, ids] of this.buckets) {
      if (bucket >= until) continue;
      for (const id of ids) {
        const forgetAt = this.seen.get(id);
        if (forgetAt !== undefined && forgetAt <= nowMs) this.seen.delete(id);
      }
      this.buckets.delete(bucket);
    }
  }
}
