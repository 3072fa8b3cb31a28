import { parseArgs } from 'node:util';
import { UsageError, parseInstant } from './args';
import { BUCKET_MS, MAX_BUCKETS, type UsageHistoryAnswer } from '@license-ledger/metrics-usage-history';
import { table } from './format';

/*
 * `ledger-cli usage`: the usage history the metrics service folds from the ledger (concurrent locks
 * per agreement beside its licenses, and denied lock requests, per UTC hour or day), read from its
 * tables like `list` reads the projection, by the same query that answers GET /v1/licenses/usage
 * (libs/metrics/usage-history).
 */

export const USAGE_HISTORY_HELP = `usage            [--agreement <id>] [--from <ISO time>] [--to <ISO time>] [--by hour|day]
                   peak concurrent locks beside licenses and denied lock requests per UTC hour or
                   day (default: by hour over the last 24 hours; by day over the last 30 days),
                   from the metrics service's usage history (DATABASE_URL)`;

const DEFAULT_SPAN_MS = { hour: 24 * BUCKET_MS.hour, day: 30 * BUCKET_MS.day } as const;

export interface UsageHistoryCommand {
  readonly agreementId: string | null;
  readonly fromMs: number;
  readonly toMs: number;
  readonly by: 'hour' | 'day';
}

/** `usage` options (after the word "usage"), with node:util's parser. */
export function parseUsageArgs(argv: readonly string[], nowMs: number): UsageHistoryCommand {
  let values: { agreement?: string; from?: string; to?: string; by?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { agreement: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, by: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const by = values.by ?? 'hour';
  if (by !== 'hour' && by !== 'day') throw new UsageError(`--by expects hour or day, got "${by}"`);
  if (values.agreement !== undefined && values.agreement.trim() === '') throw new UsageError('--agreement needs an agreement id');
  const toMs = values.to === undefined ? nowMs : parseInstant('to', values.to);
  const fromMs = values.from === undefined ? toMs - DEFAULT_SPAN_MS[by] : parseInstant('from', values.from);
  if (fromMs >= toMs) throw new UsageError('--from must be before --to');
  if ((toMs - fromMs) / BUCKET_MS[by] > MAX_BUCKETS) throw new UsageError(`at most ${MAX_BUCKETS} buckets: shorten the range or use --by day`);
  return { agreementId: values.agreement ?? null, fromMs, toMs, by };
}

/** The table printed for each agreement. */
export function formatUsage(command: UsageHistoryCommand, answer: UsageHistoryAnswer): string[] {
  const range = `${new Date(command.fromMs).toISOString()} to ${new Date(command.toMs).toISOString()}`;
  if (answer.agreements.length === 0) return [`no usage history${command.agreementId === null ? '' : ` of agreement "${command.agreementId}"`} from ${range}`];
  const lines: string[] = [];
  for (const { agreement: agreementId, buckets } of answer.agreements) {
    if (lines.length > 0) lines.push('');
    lines.push(`agreement "${agreementId}", per UTC ${command.by}, ${range}:`);
    const cut = command.by === 'hour' ? 16 : 10;
    lines.push(...table(['START', 'PEAK LOCKS', 'LICENSES', 'DENIALS'], buckets.map((b) => [b.start.slice(0, cut), String(b.peakLocks), String(b.licenses), String(b.denials)])));
    const peak = buckets.reduce((max, b) => Math.max(max, b.peakLocks), 0);
    const denials = buckets.reduce((sum, b) => sum + b.denials, 0);
    lines.push(`peak ${peak} lock(s) at once, ${denials} denied lock request(s)`);
  }
  return lines;
}
