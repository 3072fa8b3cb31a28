import type { CommandMetadata } from './commands';
import type { EpochMs } from './values';

/**
 * How far a request's own time may be from the ledger's clock: the ingress's default window
 * (REQUEST_TIME_WINDOW_SECONDS=300) plus a minute for the clocks of ingress and lease to disagree.
 * The ledger enforces it itself, so a wider ingress window cannot widen what the ledger accepts.
 */
export const REQUEST_TIME_WINDOW_MS = 6 * 60_000;

/**
 * How long the ledger remembers a request id (from its decision, in ledger time). A request stamped
 * t is accepted from t - window to t + window, so a replay may come up to two windows after the
 * first decision; remembered that long, every replay the window lets through meets its first outcome.
 */
export const REQUEST_MEMORY_MS = 2 * REQUEST_TIME_WINDOW_MS;

/**
 * Why a command must not be decided at `now` (ledger time), or undefined when it may. Only commands
 * that say when they were sent are checked; outside the window the ledger may have forgotten an
 * earlier decision of the same request id, so deciding would risk deciding it twice.
 */
export function requestTimeProblem(metadata: CommandMetadata, now: EpochMs): string | undefined {
  const { requestedAt } = metadata;
  if (requestedAt === undefined) return undefined;
  const skewMs = requestedAt - now;
  if (Math.abs(skewMs) <= REQUEST_TIME_WINDOW_MS) return undefined;
  const direction = skewMs > 0 ? 'ahead of' : 'behind';
  return `the request time is ${Math.round(Math.abs(skewMs) / 1000)} s ${direction} the ledger's clock; at most ${REQUEST_TIME_WINDOW_MS / 1000} s is accepted`;
}
