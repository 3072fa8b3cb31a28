import { Controller, Get, HttpException, Query } from '@nestjs/common';
import { z } from 'zod';
import { BUCKET_MS, MAX_BUCKETS } from '@license-ledger/metrics-usage-history';
import { SeriesRange, SeriesService } from './series.service';

export const seriesQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  by: z.enum(['hour', 'day']).optional(),
  agreement: z.string().min(1).optional(),
  package: z.string().min(1).optional(),
  api: z.string().min(1).optional(),
});

/** Default range: the last 24 hours by hour, the last 30 days by day (as GET /v1/licenses/usage). */
const DEFAULT_SPAN_MS = { hour: 24 * 3_600_000, day: 30 * 24 * 3_600_000 } as const;

const badRequest = (message: string): HttpException => new HttpException({ error: 400, message }, 400);

/** The range of a series request, or 400. */
export function seriesRange(raw: unknown, nowMs: number): SeriesRange {
  const parsed = seriesQuery.safeParse(raw);
  if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
  const q = parsed.data;
  const by = q.by ?? 'hour';
  const toMs = q.to ? Date.parse(q.to) : nowMs;
  const fromMs = q.from ? Date.parse(q.from) : toMs - DEFAULT_SPAN_MS[by];
  if (fromMs >= toMs) throw badRequest('from: must be before to');
  if ((toMs - fromMs) / BUCKET_MS[by] > MAX_BUCKETS) throw badRequest(`from, to: at most ${MAX_BUCKETS} buckets of one ${by} per answer`);
  return { fromMs, toMs, by, agreement: q.agreement ?? null, packageName: q.package ?? null, api: q.api ?? null };
}

/** Usage and latency per UTC hour or day, for charts. */
@Controller()
export class SeriesController {
  constructor(private readonly series: SeriesService) {}

  @Get('v1/usage/series')
  usage(@Query() query: unknown): Promise<unknown> {
    return this.series.usage(seriesRange(query, Date.now()));
  }

  @Get('v1/latency/series')
  latency(@Query() query: unknown): Promise<unknown> {
    return this.series.latency(seriesRange(query, Date.now()));
  }
}
