import { Controller, Get, HttpException, Query } from '@nestjs/common';
import { PrismaService } from '@license-ledger/platform-nest';
import { z } from 'zod';
import { BUCKET_MS, MAX_BUCKETS } from '@license-ledger/metrics-usage-history';
import { readUsageHistory, RunQuery, UsageHistoryAnswer } from '@license-ledger/metrics-usage-history';

export const licenseUsageQuery = z.strictObject({
  agreement: z.string().min(1).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  by: z.enum(['hour', 'day']).optional(),
});

/** Default range: the last 24 hours by hour, the last 30 days by day. */
const DEFAULT_SPAN_MS = { hour: 24 * 3_600_000, day: 30 * 24 * 3_600_000 } as const;

const badRequest = (message: string): HttpException => new HttpException({ error: 400, message }, 400);

/** Concurrent locks per agreement over time beside its licenses, and denials (the usage history). */
@Controller()
export class LicenseUsageController {
  private readonly query: RunQuery;

  constructor(prisma: PrismaService) {
    this.query = <Row>(sql: string, params: readonly unknown[]) => prisma.client.$queryRawUnsafe<Row[]>(sql, ...params);
  }

  @Get('v1/licenses/usage')
  usage(@Query() raw: unknown): Promise<UsageHistoryAnswer> {
    const parsed = licenseUsageQuery.safeParse(raw);
    if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    const q = parsed.data;
    const by = q.by ?? 'hour';
    const nowMs = Date.now();
    const toMs = q.to ? Date.parse(q.to) : nowMs;
    const fromMs = q.from ? Date.parse(q.from) : toMs - DEFAULT_SPAN_MS[by];
    if (fromMs >= toMs) throw badRequest('from: must be before to');
    if ((toMs - fromMs) / BUCKET_MS[by] > MAX_BUCKETS) throw badRequest(`from, to: at most ${MAX_BUCKETS} buckets of one ${by} per answer`);
    return readUsageHistory(this.query, { agreement: q.agreement ?? null, fromMs, toMs, by, nowMs });
  }
}
