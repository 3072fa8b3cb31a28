import type { LedgerEvent } from '@license-ledger/lease-domain';
import { ConsumedOffset, DeadLetteredRecord, deadLetteredRecord, Transaction, TransactionalPublisher } from '@license-ledger/platform-kafka';
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
import type { ChainTracker } from './chain-position';
import { chainRecords, checkpointDue, ChainedRecords, Checkpoints } from './chain-writer';
import { inTransactionRetrying } from './transaction-retry';

export interface GroupCommitLogger {
  error(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/**
 * Records derived from the partition's state that go in the same transaction as a batch's events:
 * the key directory's changes, a snapshot now and then (state-writer.ts).
 */
export interface TransactionCompanion {
  /**
   * Called as a batch is taken for writing, synchronously: the partition's state is then exactly
   * the log plus the batch's events. What it returns runs inside the batch's transaction.
   */
  prepare(events: readonly LedgerEvent[]): CompanionWork | undefined;
}

export interface CompanionWork {
  /** Runs after the batch's records are sent (again, if the transaction is retried). */
  write(transaction: Transaction, eventsEnd: bigint | undefined): Promise<void>;
  /** The transaction committed. */
  committed(): void;
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
  readonly companion?: TransactionCompanion | undefined;
  /**
   * The partition's chain (the ledger's): each batch's events are linked after its head, which
   * moves as the batch is taken for writing, like the state its events are already applied to.
   */
  readonly chain: Pick<ChainTracker, 'position' | 'moveTo'>;
  /** Signed checkpoints (docs/ledger-integrity.md); none without a ledger key. */
  readonly checkpoints?: Checkpoints | undefined;
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

  /** No transaction in flight, and a checkpoint is due for records already written (a quiet partition). */
  checkpointDueWhileQuiet(): boolean {
    return this.state.phase === 'idle' && this.checkpointDue(0);
  }

  /** Writes a checkpoint in a transaction of its own, if one is still due then. */
  checkpointSoon(): void {
    this.batch();
    this.flush();
  }

  /** Resolves once no transaction is in flight (a write that starts later is not waited for). */
  async settled(): Promise<void> {
    if (this.state.phase === 'writing') await this.state.done;
  }

  private async writeAll(): Promise<void> {
    while (this.open) {
      const batch = this.open;
      this.open = undefined;
      const planned = planWrite(batch, this.progress, performance.now());
      const checkpoint = this.checkpointDue(batch.events.length);
      if (planned.kind === 'skip' && !checkpoint) {
        this.progress = planned.progress;
        batch.settle();
        continue;
      }
      // Nothing else to write, but a checkpoint: a transaction of its own.
      const plan = planned.kind === 'write' ? planned : { kind: 'write' as const, offsets: [], consumed: planned.progress.uncommitted };
      let chained: ChainedRecords;
      try {
        chained = this.linkEvents(batch, checkpoint);
      } catch (error) {
        this.fail(batch, error);
        return;
      }
      const companion = this.options.companion?.prepare(batch.events);
      try {
        await this.transact(batch, plan.offsets, companion, chained);
      } catch (error) {
        this.fail(batch, error);
        return;
      }
      this.progress = progressAfterWrite(this.progress, plan, performance.now());
      batch.settle();
    }
  }

  private checkpointDue(adding: number): boolean {
    const { checkpoints } = this.options;
    return checkpoints !== undefined && checkpointDue(this.options.chain.position(), adding, checkpoints.clock(), checkpoints.policy);
  }

  /** The batch's events linked into the chain (and a checkpoint after them): the chain's head moves past them now. */
  private linkEvents(batch: PendingBatch, checkpoint: boolean): ChainedRecords {
    const { chain, checkpoints, partition } = this.options;
    const signing = checkpoint && checkpoints ? { signer: checkpoints.signer, at: checkpoints.clock() } : undefined;
    const chained = chainRecords(partition, chain.position(), batch.events, signing);
    chain.moveTo(chained.end);
    return chained;
  }

  private async transact(batch: PendingBatch, offsets: readonly ConsumedOffset[], companion: CompanionWork | undefined, chained: ChainedRecords): Promise<void> {
    const { publisher, topics, groupId, partition, deadLetterTopic, logger } = this.options;
    const messages = batchMessages(batch, this.options, new Date(), chained.records);
    // A refusal without effect (the coordinator busy with the previous commit) is expected with
    // back-to-back transactions: try again quietly. Failing would cost a rebuild from the log.
    const writtenUpTo = await inTransactionRetrying(
      publisher,
      async (tx) => {
        const written = await tx.sendAll(messages);
        if (offsets.length > 0) await tx.commitConsumerOffsets(groupId, offsets);
        const end = eventsEnd(written, topics.events, chained.records.length);
        await companion?.write(tx, end);
        return end;
      },
      {
        onRetry: (attempt, refusal, delayMs) =>
          logger.debug({ event: 'write_retry', partition, attempt, refusal, retry_in_ms: delayMs }, 'transaction refused without effect; retrying'),
      },
    );
    if (writtenUpTo !== undefined) this.options.onWritten(writtenUpTo);
    companion?.committed();
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
