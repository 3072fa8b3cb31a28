import type { LedgerEvent } from '@license-ledger/lease-domain';
import {
  ConsumedOffset,
  deadLetterMessage,
  PartitionedMessage,
  ReceivedMessage,
  TopicMessages,
  TopicPartition,
  WrittenBatch,
} from '@license-ledger/platform-kafka';
import type { CommandDecision } from './decide-command';
import type { LedgerTopics } from './ledger-topics';

/**
 * Consumer offsets are committed inside a transaction at most this often. They cost two of a
 * transaction's five broker round trips (measured here: 7.5 ms -> 3.7 ms p50 per transaction
 * without them). Committing them later is safe because every command that changed anything left
 * events carrying its request id, and a new owner rebuilds the recent outcomes from those events:
 * commands consumed again after a failover or rebalance get their first outcome back (or, for a
 * repeat or a malformed command, change nothing again), well inside the outcome window. A command
 * accepted without any event is the exception — nothing would answer it the first way — so its
 * transaction always commits the offset past it.
 */
export const OFFSET_COMMIT_INTERVAL_MS = 100;

/** A command that cannot be decided (malformed, misrouted): copied to the dead-letter topic. */
export interface DeadCommand {
  readonly message: ReceivedMessage;
  readonly reason: string;
}

/** When a batch's transaction commits the consumed offsets. */
export type OffsetCommit = 'when-due' | 'with-this-batch';

/**
 * Decisions taken but not yet written: they go out together in the partition's next transaction
 * (group commit). Filled while the previous transaction is in flight, then written whole.
 */
export class PendingBatch {
  readonly events: LedgerEvent[] = [];
  readonly replies: PartitionedMessage[] = [];
  /** Follow-up commands for other streams (binding a key), to the commands topic. */
  readonly commands: PartitionedMessage[] = [];
  readonly deadLetters: DeadCommand[] = [];
  /** Settles once this batch is written (or its write failed). Nobody need wait on it. */
  readonly written: Promise<void>;
  private settleWritten: (error?: unknown) => void = () => undefined;
  private offsets: OffsetCommit = 'when-due';
  private consumedUpTo: ConsumedOffset | undefined;
  private firstCommandAt: bigint | undefined;

  constructor() {
    this.written = new Promise<void>((resolve, reject) => {
      this.settleWritten = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Observed by whoever waits on it; never an unhandled rejection when nobody does.
    this.written.catch(() => undefined);
  }

  /** Where the commands partition's consumption stands once this batch is written. */
  get consumed(): ConsumedOffset | undefined {
    return this.consumedUpTo;
  }

  /** Offset of the first command decided into this batch: where to consume again if it fails. */
  get firstCommand(): bigint | undefined {
    return this.firstCommandAt;
  }

  get offsetCommit(): OffsetCommit {
    return this.offsets;
  }

  /** Records for the transaction, dead letters aside: what back-pressure counts. */
  get size(): number {
    return this.replies.length + this.events.length + this.commands.length;
  }

  get isEmpty(): boolean {
    return this.events.length === 0 && this.replies.length === 0 && this.commands.length === 0 && this.deadLetters.length === 0;
  }

  /** `messages` of the commands partition `source` are being decided into this batch, in order. */
  consume(source: TopicPartition, messages: readonly ReceivedMessage[]): void {
    const first = messages[0];
    const last = messages[messages.length - 1];
    if (first) this.firstCommandAt ??= BigInt(first.offset);
    if (last) this.consumedUpTo = { topic: source.topic, partition: source.partition, offset: String(BigInt(last.offset) + 1n) };
  }

  add(message: ReceivedMessage, decision: CommandDecision): void {
    switch (decision.kind) {
      case 'decided':
        this.events.push(...decision.events);
        this.replies.push(...decision.replies);
        this.commands.push(...decision.commands);
        // Consumed again later, it would be decided again on later state: commit past it now.
        if (decision.unrecorded) this.offsets = 'with-this-batch';
        return;
      case 'expired':
        this.offsets = 'with-this-batch';
        return;
      case 'deadLetter':
        this.deadLetters.push({ message, reason: decision.reason });
        // The dead letter and the offset past its command in one transaction: never written twice.
        this.offsets = 'with-this-batch';
        return;
      default:
        return unexpected(decision);
    }
  }

  /** Events decided without a command (lock expiry). */
  addEvents(events: readonly LedgerEvent[]): void {
    this.events.push(...events);
  }

  /** Commit the consumed offset in this batch's transaction even if the last commit is recent. */
  commitOffsetsWithIt(): void {
    this.offsets = 'with-this-batch';
  }

  settle(error?: unknown): void {
    this.settleWritten(error);
  }
}

/** Where a partition's consumer offsets stand between transactions. */
export interface OffsetProgress {
  /** A consumed offset whose commands are written but which is not committed yet. */
  readonly uncommitted: ConsumedOffset | undefined;
  /** Clock reading (ms, monotonic) of the last offset commit. */
  readonly committedAt: number;
  /** Clock reading when the last transaction ended. */
  readonly wroteAt: number;
}

export function initialOffsetProgress(nowMs: number): OffsetProgress {
  return { uncommitted: undefined, committedAt: nowMs, wroteAt: 0 };
}

/** What to do with a batch taken for writing. */
export type WritePlan =
  /** Nothing to write and no offset to commit: remember where consumption stands. */
  | { readonly kind: 'skip'; readonly progress: OffsetProgress }
  /** One transaction, committing `offsets` (none, or where consumption stands) with the records. */
  | { readonly kind: 'write'; readonly offsets: readonly ConsumedOffset[]; readonly consumed: ConsumedOffset | undefined };

export function planWrite(batch: PendingBatch, progress: OffsetProgress, nowMs: number): WritePlan {
  const commitOffsets = batch.offsetCommit === 'with-this-batch' || nowMs - progress.committedAt >= OFFSET_COMMIT_INTERVAL_MS;
  const consumed = batch.consumed ?? progress.uncommitted;
  const offsets = commitOffsets && consumed ? [consumed] : [];
  if (batch.isEmpty && offsets.length === 0) return { kind: 'skip', progress: { ...progress, uncommitted: consumed } };
  return { kind: 'write', offsets, consumed };
}

/** Where the offsets stand once the transaction `plan` described has committed. */
export function progressAfterWrite(progress: OffsetProgress, plan: Extract<WritePlan, { kind: 'write' }>, nowMs: number): OffsetProgress {
  if (plan.offsets.length > 0) return { uncommitted: undefined, committedAt: nowMs, wroteAt: nowMs };
  return { uncommitted: plan.consumed, committedAt: progress.committedAt, wroteAt: nowMs };
}

/**
 * The offsets of a partition that went quiet are due for a transaction of their own. While commands
 * flow, the next write commits them anyway, and a transaction of offsets alone right after a commit
 * is refused (CONCURRENT_TRANSACTIONS) more often than not-quite-idle partitions made worthwhile.
 */
export function offsetsDueWhileQuiet(progress: OffsetProgress, nowMs: number): boolean {
  const due = nowMs - OFFSET_COMMIT_INTERVAL_MS;
  return progress.uncommitted !== undefined && progress.committedAt <= due && progress.wroteAt <= due;
}

/**
 * Where to consume the commands partition again after `failed` (and `later`, decided on state that
 * is thrown away with it) could not be written: the first command decided into either.
 */
export function resumeOffset(failed: PendingBatch, later: PendingBatch | undefined): bigint | undefined {
  return failed.firstCommand ?? later?.firstCommand;
}

/** Where the transaction goes: the ledger's topics for one partition. */
export interface BatchTarget {
  readonly partition: number;
  readonly topics: LedgerTopics;
  /** The lease services' consumer group, named in dead letters. */
  readonly groupId: string;
  readonly deadLetterTopic: string;
}

/**
 * Every record of a batch, by topic, for one produce request. `eventRecords` are the batch's events
 * as the chain linked them for the owned partition, in decision order (chain-writer.ts).
 */
export function batchMessages(batch: PendingBatch, target: BatchTarget, failedAt: Date, eventRecords: readonly PartitionedMessage[]): TopicMessages[] {
  const { topics, groupId, deadLetterTopic } = target;
  return [
    { topic: topics.events, messages: eventRecords },
    { topic: topics.replies, messages: batch.replies },
    { topic: topics.commands, messages: batch.commands },
    { topic: deadLetterTopic, messages: batch.deadLetters.map(({ message, reason }) => deadLetterMessage(message, groupId, reason, failedAt)) },
  ];
}

/** The offset past the batch's last event, from where the produce request put them; undefined when it wrote no events. */
export function eventsEnd(written: readonly WrittenBatch[], eventsTopic: string, eventCount: number): bigint | undefined {
  const events = written.find((batch) => batch.topic === eventsTopic);
  return events ? BigInt(events.baseOffset) + BigInt(eventCount) : undefined;
}

function unexpected(value: never): never {
  throw new Error(`unexpected command decision: ${JSON.stringify(value)}`);
}
