import type { Transaction, TransactionalPublisher } from '@license-ledger/platform-kafka';

/**
 * Kafka's answers to a transaction request that mean "refused, nothing done: ask again". The usual
 * one is CONCURRENT_TRANSACTIONS: right after a commit the coordinator is still writing the previous
 * transaction's markers for a few milliseconds, and a pipelined writer asks within them. kafkajs
 * retries it for AddPartitionsToTxn but not for AddOffsetsToTxn (a transaction carrying only consumer
 * offsets), where it failed the whole write.
 */
const REFUSED_WITHOUT_EFFECT = new Set(['CONCURRENT_TRANSACTIONS', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR']);

/** An error thrown by a transaction's work, before its commit was asked for: the transaction was aborted. */
export class AbortedBeforeCommit extends Error {
  constructor(cause: unknown) {
    super(`transaction aborted before its commit: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'AbortedBeforeCommit';
  }
}

/**
 * The broker's answer (a Kafka protocol error name) that `error` reports, if it is a refusal without
 * effect. Only the error itself: a client error wrapping one (retries exhausted) has waited long
 * already and is not the brief refusal this is for.
 */
function refusalIn(error: unknown): string | undefined {
  const type = error instanceof Error ? (error as Error & { type?: unknown }).type : undefined;
  return typeof type === 'string' && REFUSED_WITHOUT_EFFECT.has(type) ? type : undefined;
}

/**
 * True for a transaction that certainly wrote nothing and may simply be run again: its work threw
 * before the commit (so it was aborted) with a refusal that had no effect on the broker. Timeouts
 * and lost connections are not included: a produce may have landed without its answer.
 */
export function isRetriableRefusal(error: unknown): boolean {
  return error instanceof AbortedBeforeCommit && refusalIn(error.cause) !== undefined;
}

export interface RetryOptions {
  /** Tries in all before the error is thrown (default 8: about 1.3 s of backoff). */
  readonly attempts?: number;
  /** Called before each retry: log it quietly, it is expected. */
  readonly onRetry?: (attempt: number, refusal: string, delayMs: number) => void;
}

/**
 * Runs `work` in a transaction of `publisher`, and runs it again, after a short backoff, while the
 * broker refuses it without effect. Any other error (and the last refusal) is thrown as the work or
 * the publisher threw it, so callers tell fencing and real failures apart as before.
 */
export async function inTransactionRetrying<T>(publisher: TransactionalPublisher, work: (transaction: Transaction) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await publisher.inTransaction(async (transaction) => {
        try {
          return await work(transaction);
        } catch (error) {
          throw new AbortedBeforeCommit(error);
        }
      });
    } catch (error) {
      if (attempt < attempts && isRetriableRefusal(error)) {
        const delayMs = Math.min(5 * 2 ** (attempt - 1), 500);
        options.onRetry?.(attempt, refusalIn((error as AbortedBeforeCommit).cause) ?? 'refused', delayMs);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        continue;
      }
      throw error instanceof AbortedBeforeCommit ? error.cause : error;
    }
  }
}
