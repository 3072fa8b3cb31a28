import { ConsumedOffset, DeadLetteredRecord, deadLetteredRecord, TransactionalPublisher } from '@license-ledger/platform-kafka';
import {
  BatchTarget,
  batchMessages,
  eventsEnd,
  initialOffsetProgress,
  OffsetProgress,
  offsetsDueWhileQuiet,
  PendingBatch,
  planWrite,
  progressAfterWrite,
  resumeOffset,
} from './pending-batch';
import { inTransactionRetrying } from './transaction-retry';

export interface GroupCommitLogger {
  error(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface GroupCommitWriterOptions extends BatchTarget {
  /** The partition's fenced-in transactional publisher; the writer never closes it. */
  readonly publisher: TransactionalPublisher;
  /** performance.now() when the partition's ownership began: the first offset commit is due an interval after it. */
  readonly ownedSince: number;
  readonly logger: GroupCommitLogger;
  /** Called for each command dead-lettered, once its transaction committed (metrics). */
  readonly onDeadLetter?: ((record: DeadLetteredRecord) => void) | undefined;
  /** A transaction committed events: the offset past the last of them. */
  readonly onWritten: (eventsEnd: bigint) => void;
  /**
   * A transaction failed (every decision pending is lost, and the writer writes nothing more).
   * Called synchronously, before anyone waiting on a batch hears of it; `resumeAt` is the offset of
   * the first command whose decision was lost, if any.
   */
  readonly onFailed: (error: unknown, resumeAt: bigint | undefined) => void;
}

type WriterState =
  | { readonly phase: 'idle' }
  /** One transaction at a time: `done` settles when the write loop has emptied the open batch. */
  | { readonly phase: 'writing'; readonly done: Promise<void> }
  | { readonly phase: 'failed'; readonly error: unknown };

/**
 * Writes one partition's decisions with group commit: everything decided while a transaction is in
 * flight goes out in the next one, with the consumed command offsets (when due), so a command waits
 * for at most one transaction before its own. Replies travel inside the transaction, so no client
 * sees an outcome that was not written.
 */
export class GroupCommitWriter {
  private open: PendingBatch | undefined;
  private progress: OffsetProgress;
  private state: WriterState = { phase: 'idle' };

  constructor(private readonly options: GroupCommitWriterOptions) {
    this.progress = initialOffsetProgress(options.ownedSince);
  }

  /** The batch decisions join now, opened if none is: call `flush()` once they are in. */
  batch(): PendingBatch {
    return (this.open ??= new PendingBatch());
  }

  /** Writes the open batch now, or with the next transaction if one is in flight. */
  flush(): void {
    switch (this.state.phase) {
      case 'idle':
        break;
      case 'writing':
        return;
      case 'failed':
        // Nothing is written after a failure: whatever was added since fails with it.
        this.open?.settle(this.state.error);
        this.open = undefined;
        return;
      default:
        return unexpected(this.state);
    }
    const done = this.writeAll()
      // Write failures are handled inside (fail()); nothing else is expected to throw there.
      .catch(() => undefined)
      .finally(() => {
        if (this.state.phase === 'writing') this.state = { phase: 'idle' };
        // Something decided between the loop's last look and now.
        if (this.open) this.flush();
      });
    this.state = { phase: 'writing', done };
  }

  /** Commits the written-but-uncommitted offset in the next transaction, even if it has nothing else. */
  commitOffsetsSoon(): void {
    this.batch().commitOffsetsWithIt();
    this.flush();
  }

  hasUncommittedOffsets(): boolean {
    return this.progress.uncommitted !== undefined;
  }

  /** No transaction in flight, and the partition went quiet with offsets left uncommitted. */
  offsetsDueWhileQuiet(nowMs: number): boolean {
    return this.state.phase === 'idle' && offsetsDueWhileQuiet(this.progress, nowMs);
  }

  /** Resolves once no transaction is in flight (a write that starts later is not waited for). */
  async settled(): Promise<void> {
    if (this.state.phase === 'writing') await this.state.done;
  }

  private async writeAll(): Promise<void> {
    while (this.open) {
      const batch = this.open;
      this.open = undefined;
      const plan = planWrite(batch, this.progress, performance.now());
      if (plan.kind === 'skip') {
        this.progress = plan.progress;
        batch.settle();
        continue;
      }
      try {
        await this.transact(batch, plan.offsets);
      } catch (error) {
        this.fail(batch, error);
        return;
      }
      this.progress = progressAfterWrite(this.progress, plan, performance.now());
      batch.settle();
    }
  }

  private async transact(batch: PendingBatch, offsets: readonly ConsumedOffset[]): Promise<void> {
    const { publisher, topics, groupId, partition, deadLetterTopic, logger } = this.options;
    const messages = batchMessages(batch, this.options, new Date());
    // A refusal without effect (the coordinator busy with the previous commit) is expected with
    // back-to-back transactions: try again quietly. Failing would cost a rebuild from the log.
    const writtenUpTo = await inTransactionRetrying(
      publisher,
      async (tx) => {
        const written = await tx.sendAll(messages);
        if (offsets.length > 0) await tx.commitConsumerOffsets(groupId, offsets);
        return eventsEnd(written, topics.events, batch.events.length);
      },
      {
        onRetry: (attempt, refusal, delayMs) =>
          logger.debug({ event: 'write_retry', partition, attempt, refusal, retry_in_ms: delayMs }, 'transaction refused without effect; retrying'),
      },
    );
    if (writtenUpTo !== undefined) this.options.onWritten(writtenUpTo);
    for (const { message, reason } of batch.deadLetters) {
      const record = deadLetteredRecord(message, groupId, reason);
      logger.error({ event: 'dead_lettered', ...record, dead_letter_topic: deadLetterTopic }, 'command dead-lettered and skipped');
      this.options.onDeadLetter?.(record);
    }
  }

  private fail(batch: PendingBatch, error: unknown): void {
    // Decided after the failed batch, on state that is thrown away with it.
    const later = this.open;
    this.open = undefined;
    this.state = { phase: 'failed', error };
    // Waiters hear of it in a later microtask, after onFailed has run.
    batch.settle(error);
    later?.settle(error);
    this.options.onFailed(error, resumeOffset(batch, later));
  }
}

function unexpected(value: never): never {
  throw new Error(`unexpected writer state: ${JSON.stringify(value)}`);
}
