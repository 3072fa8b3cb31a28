import { estimateQuantile, HISTOGRAMS, type Histogram } from '@license-ledger/metrics-usage';
import { apiInteger, type ApiInteger, approximate } from './json-integer';

export type Quantile = { readonly ns: number; readonly overflow: boolean } | null;

export interface HistogramSummary {
  readonly bounds: readonly number[];
  /** Cumulative bucket counts, exact (integers beyond 2^53 as strings). */
  readonly cumulative: readonly ApiInteger[];
  readonly count: ApiInteger;
  readonly p50: Quantile;
  readonly p90: Quantile;
  readonly p99: Quantile;
}

/** One latency histogram of a row of summed bucket columns (as text or numbers), with its quantile estimates. */
export function summarizeHistogram(row: Readonly<Record<string, unknown>> | undefined, name: Histogram): HistogramSummary {
  const { buckets } = HISTOGRAMS[name];
  const bounds = buckets.map((b) => b.boundNs);
  const cumulative = buckets.map((b) => apiInteger(row?.[b.column]));
  // Estimates: doubles are plenty (rounding keeps cumulative counts in order).
  const counts = cumulative.map(approximate);
  const q = (p: number): Quantile => {
    const estimate = estimateQuantile(bounds, counts, p);
    return estimate === null ? null : { ns: estimate.value, overflow: estimate.overflow };
  };
  return { bounds, cumulative, count: cumulative[cumulative.length - 1] ?? 0, p50: q(0.5), p90: q(0.9), p99: q(0.99) };
}
