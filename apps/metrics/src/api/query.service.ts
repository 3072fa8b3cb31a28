import { Injectable } from '@nestjs/common';
import { PrismaService } from '@license-ledger/platform-nest';
import { COUNTER_COLUMNS, COUNTER_FIELDS, FEATURE_FIELDS, type Histogram, HISTOGRAM_COLUMNS, HISTOGRAMS } from '@license-ledger/metrics-usage';
import { z } from 'zod';
import { summarizeHistogram } from './histogram-summary';
import { apiInteger } from './json-integer';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const rangeQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  agreement: z.string().min(1).optional(),
  package: z.string().min(1).optional(),
  api: z.string().min(1).optional(),
});
export const usageQuery = rangeQuery.extend({ group_by: z.enum(['agreement', 'package', 'api', 'day']).optional() });
export const gatewaysQuery = rangeQuery.extend({ limit: z.coerce.number().int().min(1).max(10_000).optional() });

export interface Range {
  readonly from: Date;
  readonly to: Date;
  readonly agreement: string | null;
  readonly packageName: string | null;
  readonly api: string | null;
}

/** [from, to): default the last 24 hours up to now. */
export function toRange(q: z.infer<typeof rangeQuery>): Range {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 24 * HOUR_MS);
  return { from, to, agreement: q.agreement ?? null, packageName: q.package ?? null, api: q.api ?? null };
}

const FILTERS = `($3::text IS NULL OR r.agreement_id = $3) AND ($4::text IS NULL OR r.package_name = $4) AND ($5::text IS NULL OR r.api = $5)`;
const GROUPS: Record<string, string> = {
  agreement: `coalesce(r.agreement_id, '')`,
  package: `r.package_name`,
  api: `r.api`,
  day: `to_char(r.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  none: `'all'`,
};

@Injectable()
export class QueryService {
  constructor(private readonly prisma: PrismaService) {}

  private params(range: Range): unknown[] {
    return [range.from.toISOString(), range.to.toISOString(), range.agreement, range.packageName, range.api];
  }

  async usage(range: Range, groupBy: string | undefined): Promise<unknown> {
    const group = GROUPS[groupBy ?? 'none'] ?? GROUPS['none'];
    const rows = await this.prisma.client.$queryRawUnsafe<Array<Record<string, unknown>>>(
      `SELECT ${group} AS key,
        count(DISTINCT (s.hostname, s.service_name, s.instance)) AS gateways,
        count(DISTINCT r.session_id) AS sessions,
        count(*) AS reports,
        ${COUNTER_FIELDS.map((f, i) => `sum(r."${COUNTER_COLUMNS[i]}")::text AS "${f}"`).join(', ')},
        count(*) FILTER (WHERE r.please_report) AS please_report,
        count(*) FILTER (WHERE r.please_report_details) AS please_report_details,
        ${FEATURE_FIELDS.filter((f) => !f.startsWith('please_')).map((f) => `count(DISTINCT r.session_id) FILTER (WHERE r.${f}) AS ${f}`).join(', ')}
      FROM metrics_report r JOIN metrics_session s ON s.session_id = r.session_id
      WHERE r.received_at >= $1::timestamptz AND r.received_at < $2::timestamptz AND ${FILTERS}
      GROUP BY 1 ORDER BY 1`,
      ...this.params(range),
    );
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      group_by: groupBy ?? null,
      groups: rows.map((row) => ({
        key: row['key'],
        active_gateways: apiInteger(row['gateways']),
        active_sessions: apiInteger(row['sessions']),
        reports: apiInteger(row['reports']),
        order_actions: Object.fromEntries(COUNTER_FIELDS.map((f) => [f, apiInteger(row[f])])),
        please_report: { reports: apiInteger(row['please_report']), with_details: apiInteger(row['please_report_details']) },
        features_in_use: Object.fromEntries(FEATURE_FIELDS.filter((f) => !f.startsWith('please_')).map((f) => [f, apiInteger(row[f])])),
      })),
    };
  }

  /**
   * Whole days inside the range come from the daily roll-up, whole hours around them from the hourly
   * one, and the partial hours at either end from the reports themselves.
   */
  async latency(range: Range): Promise<unknown> {
    const fromMs = range.from.getTime();
    const toMs = range.to.getTime();
    const hourStart = Math.ceil(fromMs / HOUR_MS) * HOUR_MS;
    const hourEnd = Math.floor(toMs / HOUR_MS) * HOUR_MS;
    const params: unknown[] = [range.agreement, range.packageName, range.api];
    const at = (ms: number): string => {
      params.push(new Date(ms).toISOString());
      return `$${params.length}::timestamptz`;
    };
    const sums = HISTOGRAM_COLUMNS.map((c) => `sum("${c}")`).join(', ');
    const rollUpFilters = `($1::text IS NULL OR agreement_id = $1) AND ($2::text IS NULL OR package_name = $2) AND ($3::text IS NULL OR api = $3)`;
    const raw = (a: number, b: number) =>
      `SELECT count(*), ${sums} FROM metrics_report WHERE received_at >= ${at(a)} AND received_at < ${at(b)} AND ${rollUpFilters}`;
    const rolled = (table: string, column: string, a: number, b: number) =>
      `SELECT sum(reports), ${sums} FROM ${table} WHERE ${column} >= ${at(a)} AND ${column} < ${at(b)} AND ${rollUpFilters}`;
    const parts: string[] = [];
    if (hourStart >= hourEnd) {
      parts.push(raw(fromMs, toMs));
    } else {
      const dayStart = Math.ceil(hourStart / DAY_MS) * DAY_MS;
      const dayEnd = Math.floor(hourEnd / DAY_MS) * DAY_MS;
      if (fromMs < hourStart) parts.push(raw(fromMs, hourStart));
      if (dayStart < dayEnd) {
        if (hourStart < dayStart) parts.push(rolled('metrics_latency_hourly', 'hour', hourStart, dayStart));
        parts.push(rolled('metrics_latency_daily', 'day', dayStart, dayEnd));
        if (dayEnd < hourEnd) parts.push(rolled('metrics_latency_hourly', 'hour', dayEnd, hourEnd));
      } else {
        parts.push(rolled('metrics_latency_hourly', 'hour', hourStart, hourEnd));
      }
      if (hourEnd < toMs) parts.push(raw(hourEnd, toMs));
    }
    const cols = HISTOGRAM_COLUMNS.map((c) => `"${c}"`).join(', ');
    // Sums of numeric (the roll-ups, and sum() of the reports' bigints) as text: exact at any size.
    const totals = HISTOGRAM_COLUMNS.map((c) => `sum("${c}")::text AS "${c}"`).join(', ');
    const sql = `SELECT sum(reports)::text AS reports, ${totals} FROM (${parts.join(' UNION ALL ')}) AS p(reports, ${cols})`;
    const [row = {}] = await this.prisma.client.$queryRawUnsafe<Array<Record<string, unknown>>>(sql, ...params);
    const histogram = (name: Histogram) => {
      const { bounds, cumulative, count, p50, p90, p99 } = summarizeHistogram(row, name);
      return {
        count,
        sum: apiInteger(row[HISTOGRAMS[name].sum]),
        buckets: bounds.map((b, i) => ({ le_ns: Number.isFinite(b) ? b : '+Inf', count: cumulative[i] ?? 0 })),
        p50,
        p90,
        p99,
      };
    };
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      reports: apiInteger(row['reports']),
      method: 'linear interpolation within the bucket holding rank q*count (see /openapi.json)',
      internal: histogram('internal'),
      external: histogram('external'),
    };
  }

  async gateways(range: Range, limit: number | undefined): Promise<unknown> {
    const rows = await this.prisma.client.$queryRawUnsafe<Array<Record<string, unknown>>>(
      `SELECT session_id, agreement_id, key_fingerprint, package_name, package_version, api, api_name, service_name, instance,
              hostname, is_uat, host, first_seen, last_seen, reports, restarts
       FROM metrics_session r
       WHERE r.last_seen >= $1::timestamptz AND r.first_seen < $2::timestamptz AND ${FILTERS}
       ORDER BY last_seen DESC, session_id LIMIT $6`,
      ...this.params(range),
      limit ?? 1000,
    );
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      sessions: rows.map((row) => ({
        ...row,
        first_seen: (row['first_seen'] as Date).toISOString(),
        last_seen: (row['last_seen'] as Date).toISOString(),
        reports: apiInteger(row['reports']),
        restarts: apiInteger(row['restarts']),
      })),
    };
  }
}
