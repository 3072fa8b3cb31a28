/**
 * Quantiles estimated from a cumulative histogram (each bucket counts every sample at or below its
 * upper bound; the last bound is +Infinity and counts all samples).
 *
 * Method (as Prometheus' histogram_quantile): the rank is q × total; the quantile lies in the first
 * bucket whose cumulative count reaches the rank, and is placed by linear interpolation between that
 * bucket's lower bound (the previous bound, 0 for the first bucket) and its upper bound, assuming the
 * bucket's samples are spread evenly. When that bucket is the +Inf one the estimate is the last
 * finite bound (a lower bound of the true value; `overflow` says so). No samples: null.
 */
export interface QuantileEstimate {
  readonly value: number;
  /** The quantile fell into the +Inf bucket: the true value is at least `value`. */
  readonly overflow: boolean;
}

export function estimateQuantile(bounds: readonly number[], cumulative: readonly number[], q: number): QuantileEstimate | null {
  if (bounds.length !== cumulative.length || bounds.length === 0) throw new Error('bounds and counts differ in length');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile ${q} outside [0, 1]`);
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let previousCount = 0;
  let previousBound = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i] as number;
    const count = cumulative[i] as number;
    if (count >= rank && count > previousCount) {
      if (!Number.isFinite(bound)) return { value: previousBound, overflow: true };
      const value = previousBound + ((bound - previousBound) * (rank - previousCount)) / (count - previousCount);
      return { value, overflow: false };
    }
    if (Number.isFinite(bound)) previousBound = bound;
    previousCount = Math.max(previousCount, count);
  }
  return { value: previousBound, overflow: true };
}
