import { Injectable } from '@nestjs/common';
import { PrismaService } from '@license-ledger/platform-nest';
import { COUNTER_FIELDS, HISTOGRAM_COLUMNS, type Histogram } from '@license-ledger/metrics-usage';
import { BUCKET_MS, BucketSize, bucketStarts } from '@license-ledger/metrics-usage-history';
import { summarizeHistogram } from './histogram-summary';
import { apiInteger } from './json-integer';

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
    const histogram = (row: Row | undefined, name: Histogram) => {
      const { count, p50, p90, p99 } = summarizeHistogram(row, name);
      return { count, p50, p90, p99 };
    };
    return {
      ...this.header(range),
      points: bucketStarts(range.fromMs, range.toMs, range.by).map((start) => {
        const row = byStart.get(start);
        return { start: new Date(start).toISOString(), reports: apiInteger(row?.['reports']), internal: histogram(row, 'internal'), external: histogram(row, 'external') };
      }),
    };
  }

  private header(range: SeriesRange): { from: string; to: string; by: BucketSize } {
    return { from: new Date(range.fromMs).toISOString(), to: new Date(range.toMs).toISOString(), by: range.by };
  }
}
