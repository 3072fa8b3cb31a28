import { Injectable } from '@nestjs/common';
import { PrismaService } from '@license-ledger/platform-nest';
import { COUNTER_FIELDS, estimateQuantile, EXTERNAL_BOUNDS_NS, INTERNAL_BOUNDS_NS } from '@license-ledger/metrics-usage';
import { HISTOGRAM_COLUMNS } from '../telemetry/telemetry-store';
import { BUCKET_MS, BucketSize, bucketStarts } from '@license-ledger/metrics-usage-history';
import { apiInteger, ApiInteger, approximate } from './json-integer';

/** A time range cut into UTC buckets, with the /v1 filters. */
export interface SeriesRange {
  readonly fromMs: number;
  readonly toMs: number;
  readonly by: BucketSize;
  readonly agreement: string | null;
  readonly packageName: string | null;
  readonly api: string | null;
}

type Row = Record<string, unknown>;
type Quantile = { ns: number; overflow: boolean } | null;

/**
 * Time series for the dashboard (and anyone else): usage per bucket from the reports, latency
 * quantiles per bucket from the hourly and daily roll-ups. Every bucket of the range is answered,
 * empty ones with zeros (usage) or null quantiles (latency), so charts need no gap logic.
 */
@Injectable()
export class SeriesService {
  constructor(private readonly prisma: PrismaService) {}

  private filtered(range: SeriesRange, prefix: string): { where: string; params: unknown[] } {
    const starts = bucketStarts(range.fromMs, range.toMs, range.by);
    const first = starts[0] ?? range.fromMs;
    return {
      where: `($3::text IS NULL OR ${prefix}agreement_id = $3) AND ($4::text IS NULL OR ${prefix}package_name = $4) AND ($5::text IS NULL OR ${prefix}api = $5)`,
      params: [new Date(first).toISOString(), new Date(range.toMs).toISOString(), range.agreement, range.packageName, range.api, BUCKET_MS[range.by]],
    };
  }

  /** Per bucket: active gateways and sessions, reports and order actions (sums of the deltas). */
  async usage(range: SeriesRange): Promise<unknown> {
    const { where, params } = this.filtered(range, 'r.');
    const rows = await this.prisma.client.$queryRawUnsafe<Row[]>(
      `SELECT (floor(extract(epoch FROM r.received_at) * 1000 / $6) * $6)::bigint AS start,
              count(DISTINCT (s.hostname, s.service_name, s.instance)) AS gateways, count(DISTINCT r.session_id) AS sessions, count(*) AS reports,
              ${COUNTER_FIELDS.map((f) => `sum(r.${f})::text AS ${f}`).join(', ')}
       FROM metrics_report r JOIN metrics_session s ON s.session_id = r.session_id
       WHERE r.received_at >= $1::timestamptz AND r.received_at < $2::timestamptz AND ${where}
       GROUP BY 1`,
      ...params,
    );
    const byStart = new Map(rows.map((row) => [Number(row['start']), row]));
    return {
      ...this.header(range),
      points: bucketStarts(range.fromMs, range.toMs, range.by).map((start) => {
        const row = byStart.get(start);
        return {
          start: new Date(start).toISOString(),
          active_gateways: apiInteger(row?.['gateways']),
          active_sessions: apiInteger(row?.['sessions']),
          reports: apiInteger(row?.['reports']),
          order_actions: Object.fromEntries(COUNTER_FIELDS.map((f) => [f, apiInteger(row?.[f])])),
        };
      }),
    };
  }

  /** Per bucket: internal and external p50, p90, p99 from the merged histograms of the roll-ups. */
  async latency(range: SeriesRange): Promise<unknown> {
    const { where, params } = this.filtered(range, '');
    const [table, column] = range.by === 'day' ? ['metrics_latency_daily', 'day'] : ['metrics_latency_hourly', 'hour'];
    const rows = await this.prisma.client.$queryRawUnsafe<Row[]>(
      `SELECT (floor(extract(epoch FROM ${column}) * 1000 / $6) * $6)::bigint AS start, sum(reports)::text AS reports,
              ${HISTOGRAM_COLUMNS.map((c) => `sum("${c}")::text AS "${c}"`).join(', ')}
       FROM ${table} WHERE ${column} >= $1::timestamptz AND ${column} < $2::timestamptz AND ${where}
       GROUP BY 1`,
      ...params,
    );
    const byStart = new Map(rows.map((row) => [Number(row['start']), row]));
    const histogram = (row: Row | undefined, prefix: 'int' | 'ext', bounds: readonly number[]): { count: ApiInteger; p50: Quantile; p90: Quantile; p99: Quantile } => {
      const cumulative = HISTOGRAM_COLUMNS.filter((c) => c.startsWith(`${prefix}_`) && c !== `${prefix}_sum`).map((c) => apiInteger(row?.[c]));
      const counts = cumulative.map(approximate);
      const q = (p: number): Quantile => {
        const estimate = estimateQuantile(bounds, counts, p);
        return estimate === null ? null : { ns: estimate.value, overflow: estimate.overflow };
      };
      return { count: cumulative[cumulative.length - 1] ?? 0, p50: q(0.5), p90: q(0.9), p99: q(0.99) };
    };
    return {
      ...this.header(range),
      points: bucketStarts(range.fromMs, range.toMs, range.by).map((start) => {
        const row = byStart.get(start);
        return { start: new Date(start).toISOString(), reports: apiInteger(row?.['reports']), internal: histogram(row, 'int', INTERNAL_BOUNDS_NS), external: histogram(row, 'ext', EXTERNAL_BOUNDS_NS) };
      }),
    };
  }

  private header(range: SeriesRange): { from: string; to: string; by: BucketSize } {
    return { from: new Date(range.fromMs).toISOString(), to: new Date(range.toMs).toISOString(), by: range.by };
  }
}
