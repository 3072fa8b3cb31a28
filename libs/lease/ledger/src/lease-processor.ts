import { randomUUID } from 'node:crypto';
import {
  EpochMs,
  ExpireLocks,
  LeaseCommand,
  LedgerEvent,
  nextExpiry,
  streamOf,
  streamOfEvent,
} from '@license-ledger/lease-domain';
import {
  ConsumedOffset,
  deadLetteredRecord,
  DeadLetteredRecord,
  deadLetterMessage,
  errorReason,
  MessageBus,
  PartitionedMessage,
  ProducerFencedError,
  ReceivedMessage,
  Subscription,
  TopicPartition,
  Topics,
  Transaction,
  TransactionalPublisher,
} from '@license-ledger/platform-kafka';
import { decideEnvelope } from './decide-envelope';
import { PartitionLedger } from './partition-ledger';
import { CommandEnvelope, decodeCommandEnvelope, decodeLedgerRecord, encodeJson, PartitionClaimed } from './records';
import { inTransactionRetrying } from './transaction-retry';

export interface LedgerTopics {
  readonly commands: string;
  readonly events: string;
  readonly replies: string;
}

export interface LeaseProcessorLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface LeaseProcessorOptions {
  readonly bus: MessageBus;
  readonly topics: LedgerTopics;
  /**
   * Consumer group of the commands topic, shared by every lease instance. It also names the
   * per-partition transactional ids (`<groupId>.partition-<n>`), the same for every instance.
   */
  readonly groupId: string;
  readonly instanceId: string;
  readonly logger: LeaseProcessorLogger;
  /** Defaults to the system clock and random UUIDs; tests may pass their own. */
  readonly clock?: () => EpochMs;
  readonly newId?: () => string;
  readonly expiryCheckIntervalMs?: number;
  readonly claimTimeoutMs?: number;
  /** Where commands that cannot be decided go (default Topics.deadLetters.name). */
  readonly deadLetterTopic?: string;
  /** Called for each command dead-lettered, once its transaction committed (metrics). */
  readonly onDeadLetter?: (record: DeadLetteredRecord) => void;
}

/** A command that cannot be decided (malformed, misrouted): copied to the dead-letter topic. */
interface DeadCommand {
  readonly message: ReceivedMessage;
  readonly reason: string;
}

/** Decisions taken but not yet written: they go out together in the partition's next transaction. */
interface PendingWrite {
  readonly events: LedgerEvent[];
  readonly replies: PartitionedMessage[];
  /** Follow-up commands for other streams (binding a key), to the commands topic. */
  readonly commands: PartitionedMessage[];
  readonly deadLetters: DeadCommand[];
  /** Where the commands partition's consumption stands once this batch is written. */
  consumed: ConsumedOffset | undefined;
  /** Commit `consumed` in this transaction even if the last commit is recent. */
  commitOffsets: boolean;
  /** Offset of the first command decided into this batch: where to consume again if it fails. */
  firstCommand: bigint | undefined;
  readonly written: Promise<void>;
  settle(error?: unknown): void;
}

/** A commands partition this instance owns in the current generation. */
interface Ownership {
  readonly partition: number;
  /** Resolves with the fenced-in publisher once this instance's state has caught up. */
  readonly ready: Promise<TransactionalPublisher>;
  /** Set once `ready` has resolved: decisions may be taken synchronously from then on. */
  publisher: TransactionalPublisher | undefined;
  revoked: boolean;
  /** Decisions gathered while the previous transaction is in flight (group commit). */
  pending: PendingWrite | undefined;
  /** The running write loop, if any; a partition has at most one transaction open at a time. */
  writing: Promise<void> | undefined;
  /** Why the partition's last write failed: its state was rebuilt and it must be claimed again. */
  failed: unknown;
  /** A consumed offset whose commands are written but which is not committed yet. */
  uncommitted: ConsumedOffset | undefined;
  /** performance.now() of the last consumer-offset commit. */
  offsetsCommittedAt: number;
  /** performance.now() when the last transaction ended. */
  wroteAt: number;
}

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
const OFFSET_COMMIT_INTERVAL_MS = 100;

interface Decided {
  readonly events: readonly LedgerEvent[];
  readonly replies: readonly PartitionedMessage[];
  readonly commands: readonly PartitionedMessage[];
  /** Accepted without an event (e.g. binding a key already bound): nothing in the log remembers it. */
  readonly unrecorded: boolean;
  readonly deadLetter?: DeadCommand;
}

/** Past this many decided-but-unwritten records a partition's consumer waits for the writer. */
const MAX_PENDING_COMMANDS = 5_000;

function newPendingWrite(): PendingWrite {
  let settle: (error?: unknown) => void = () => undefined;
  const written = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Observed by whoever waits on it; never an unhandled rejection when nobody does.
  written.catch(() => undefined);
  return { events: [], replies: [], commands: [], deadLetters: [], consumed: undefined, commitOffsets: false, firstCommand: undefined, written, settle };
}

/**
 * The lease service's engine. Every instance folds the whole event topic into per-partition state
 * (a read-committed reader); the instance the consumer group assigns a commands partition becomes
 * its only writer: it fences earlier writers with a per-partition transactional id, waits until its
 * state includes everything they committed, then decides commands and writes events, replies and
 * (at most every OFFSET_COMMIT_INTERVAL_MS) the consumed command offsets in one transaction. A
 * crash leaves either all of that or none.
 *
 * Deciding and writing are pipelined: commands are decided as they are consumed, and everything
 * decided while one transaction is in flight goes out in the next (group commit), so a command
 * waits for at most one transaction before its own rather than for every fetch-and-commit cycle.
 * Replies travel inside the transaction, so no client sees an outcome that was not written.
 */
export class LeaseProcessor {
  private readonly ledgers = new Map<number, PartitionLedger>();
  private readonly owned = new Map<number, Ownership>();
  private readonly subscriptions: Subscription[] = [];
  private stateReader: Subscription | undefined;
  private commands: Subscription | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private offsetTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private readonly clock: () => EpochMs;
  private readonly newId: () => string;

  constructor(private readonly options: LeaseProcessorOptions) {
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? randomUUID;
  }

  /** Owned partitions whose state has caught up (for readiness and tests). */
  ownedPartitions(): number[] {
    return [...this.owned.values()].filter((o) => !o.revoked).map((o) => o.partition).sort((a, b) => a - b);
  }

  ledger(partition: number): PartitionLedger {
    let ledger = this.ledgers.get(partition);
    if (!ledger) {
      ledger = new PartitionLedger(partition);
      this.ledgers.set(partition, ledger);
    }
    return ledger;
  }

  async start(): Promise<void> {
    const { bus, topics, instanceId } = this.options;
    this.stateReader = await bus.subscribe({
      // A group of its own: every instance reads every partition of the ledger from the start.
      groupId: `${this.options.groupId}.state.${instanceId}`,
      topics: [topics.events],
      fromBeginning: true,
      commit: 'none',
      // An owner's own writes are in its state already; the rest matters when a partition is
      // claimed (at most maxWaitMs later). Large fetches keep a busy log from costing one each.
      maxWaitMs: 100,
      minBytes: 256 * 1024,
      onMessages: async (messages, batch) => this.applyFromLog(batch.partition, messages),
    });
    this.subscriptions.push(this.stateReader);
    this.commands = await bus.subscribe({
      groupId: this.options.groupId,
      topics: [topics.commands],
      fromBeginning: true,
      commit: 'none',
      maxWaitMs: 100,
      // Partitions have their own writers and state: decide them side by side.
      partitionsInParallel: 8,
      onAssignment: (assigned) => this.reassign(assigned),
      onMessages: async (messages, batch) => {
        if (batch.isCurrent()) await this.handleCommands(batch, messages);
      },
    });
    this.subscriptions.push(this.commands);
    this.expiryTimer = setInterval(() => this.expireDueLocks(), this.options.expiryCheckIntervalMs ?? 1_000);
    this.offsetTimer = setInterval(() => {
      const due = performance.now() - OFFSET_COMMIT_INTERVAL_MS;
      for (const ownership of this.owned.values()) {
        // Only for a partition that went quiet: while commands flow, the next write commits the
        // offsets anyway, and a transaction of offsets alone right after a commit is refused
        // (CONCURRENT_TRANSACTIONS) more often than not-quite-idle partitions made worthwhile.
        const quiet = ownership.offsetsCommittedAt <= due && ownership.wroteAt <= due;
        if (ownership.uncommitted && !ownership.writing && ownership.publisher && !ownership.revoked && quiet) this.commitOffsetsSoon(ownership);
      }
    }, OFFSET_COMMIT_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.expiryTimer);
    clearInterval(this.offsetTimer);
    // Write and commit what was decided while still in the group, so no one fences us mid-way.
    await this.dropOwnership([...this.owned.keys()]);
    await Promise.allSettled(this.subscriptions.map((s) => s.stop()));
  }

  private applyFromLog(partition: number, messages: readonly ReceivedMessage[]): void {
    const ledger = this.ledger(partition);
    // Everything after our claim marker is ours and already in this state — together with decisions
    // not yet written, after which a record read back (before writtenUpTo) must not apply again.
    if (ledger.ownerWriting) return;
    for (const message of messages) {
      const offset = BigInt(message.offset);
      // The owner's own writes are in its state already (writtenUpTo): no need to decode them again.
      if (offset < ledger.nextOffset) continue;
      try {
        ledger.applyFromLog(offset, decodeLedgerRecord(message.value));
      } catch (error) {
        // A record we cannot read is a broken log: state past it would be wrong. Stop deciding.
        this.options.logger.error({ event: 'broken_log', partition, offset: message.offset, err: error }, 'cannot apply ledger record');
        throw error;
      }
    }
  }

  private reassign(assigned: readonly TopicPartition[]): void {
    const partitions = assigned.filter((a) => a.topic === this.options.topics.commands).map((a) => a.partition);
    // Kafka's eager rebalance revokes everything: re-claim each partition, even one kept, since
    // another instance may have written to it in between. A claim starts only once the previous
    // ownerships have written (or failed and rebuilt) what they decided: fencing our own write in
    // flight would leave its decisions in memory, unwritten, under the new claim.
    const dropped = this.dropOwnership([...this.owned.keys()]);
    for (const partition of partitions) this.owned.set(partition, this.newOwnership(partition, dropped.then(() => this.claim(partition))));
    this.options.logger.info({ event: 'assigned', partitions }, 'lease partitions assigned');
  }

  private newOwnership(partition: number, ready: Promise<TransactionalPublisher>): Ownership {
    const ownership: Ownership = {
      partition,
      ready,
      publisher: undefined,
      revoked: false,
      pending: undefined,
      writing: undefined,
      failed: undefined,
      uncommitted: undefined,
      offsetsCommittedAt: performance.now(),
      wroteAt: 0,
    };
    ready.then(
      (publisher) => {
        ownership.publisher = publisher;
        if (!ownership.revoked) this.ledger(partition).ownerWriting = true;
      },
      (error: unknown) => {
        this.options.logger.warn({ event: 'claim_failed', partition, err: error }, 'could not claim partition');
      },
    );
    return ownership;
  }

  /**
   * After a failed write (not a fencing: then another instance owns the partition and a rebalance
   * is on its way), claim the partition again on state rebuilt from the log and consume again from
   * the first command whose decision was thrown away, so those commands are answered without
   * waiting for more traffic or a rebalance.
   */
  private recover(failed: Ownership, resumeAt: bigint | undefined, error: unknown): void {
    const { partition } = failed;
    if (this.stopped || error instanceof ProducerFencedError || this.owned.get(partition) !== failed) return;
    this.options.logger.warn({ event: 'reclaiming', partition, resume_at: resumeAt?.toString() }, 'claiming the partition again after a failed write');
    const closed = failed.ready.then(
      (publisher) => publisher.close().catch(() => undefined),
      () => undefined,
    );
    this.owned.set(partition, this.newOwnership(partition, closed.then(() => this.claim(partition))));
    if (resumeAt !== undefined) this.commands?.seek(this.options.topics.commands, partition, resumeAt.toString());
  }

  private async dropOwnership(partitions: readonly number[]): Promise<void> {
    const dropped = partitions.flatMap((p) => {
      const ownership = this.owned.get(p);
      this.owned.delete(p);
      if (ownership) ownership.revoked = true;
      return ownership ? [ownership] : [];
    });
    await Promise.allSettled(
      dropped.map(async (ownership) => {
        // Whatever was decided is written (or fails and is rebuilt) before the publisher goes, and
        // the consumed offset is committed so the next owner does not consume it again.
        await ownership.writing;
        if (ownership.uncommitted && ownership.failed === undefined) this.commitOffsetsSoon(ownership);
        await ownership.writing;
        const publisher = await ownership.ready.finally(() => {
          // Written or rebuilt: from here the log's reader keeps this partition's state.
          this.ledger(ownership.partition).ownerWriting = false;
        });
        await publisher.close();
      }),
    );
  }

  /** Fence earlier writers, mark the log, and wait until our state reader has read up to the mark. */
  private async claim(partition: number): Promise<TransactionalPublisher> {
    const { bus, topics, groupId, instanceId } = this.options;
    if (this.stopped) throw new Error('stopped');
    const publisher = await bus.transactionalPublisher(`${groupId}.partition-${partition}`);
    try {
      const marker: PartitionClaimed = {
        type: 'PartitionClaimed',
        data: { partition, owner: instanceId, claimId: this.newId() },
        metadata: { at: this.clock() },
      };
      const [written] = await inTransactionRetrying(publisher, (tx) => tx.send(topics.events, [{ key: null, partition, value: encodeJson(marker) }]));
      if (!written) throw new Error(`claim of partition ${partition}: no offset returned`);
      const markerOffset = BigInt(written.baseOffset);
      const deadline = Date.now() + (this.options.claimTimeoutMs ?? 60_000);
      while (this.ledger(partition).nextOffset <= markerOffset) {
        if (this.stopped) throw new Error('stopped');
        if (Date.now() > deadline) throw new Error(`state of partition ${partition} did not reach offset ${markerOffset}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      this.options.logger.info({ event: 'claimed', partition, markerOffset: String(markerOffset) }, 'partition claimed');
      return publisher;
    } catch (error) {
      // Nobody else holds this producer: close it, or its connection outlives the claim.
      await publisher.close().catch(() => undefined);
      throw error;
    }
  }


  private async handleCommands(batch: TopicPartition, messages: readonly ReceivedMessage[]): Promise<void> {
    let ownership = this.owned.get(batch.partition);
    if (ownership?.failed !== undefined) throw ownership.failed;
    if (!ownership || ownership.revoked) return;
    if (!ownership.publisher) await ownership.ready;
    // Re-read after the wait: a rebalance may have replaced or revoked it.
    ownership = this.owned.get(batch.partition);
    if (!ownership || ownership.revoked || ownership.failed !== undefined || !ownership.publisher) return;
    const ledger = this.ledger(batch.partition);
    const now = this.clock();
    const pending = (ownership.pending ??= newPendingWrite());
    const first = messages[0];
    if (first) pending.firstCommand ??= BigInt(first.offset);
    for (const message of messages) {
      const decided = this.decideOne(ledger, message, now);
      pending.events.push(...decided.events);
      pending.replies.push(...decided.replies);
      pending.commands.push(...decided.commands);
      // Consumed again later, it would be decided again on later state: commit past it now.
      if (decided.unrecorded) pending.commitOffsets = true;
      if (decided.deadLetter) {
        pending.deadLetters.push(decided.deadLetter);
        // The dead letter and the offset past its command in one transaction: never written twice.
        pending.commitOffsets = true;
      }
    }
    const last = messages[messages.length - 1];
    if (last) pending.consumed = { topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) };
    this.startWriting(ownership);
    // Back-pressure: a writer far behind holds the consumer of this partition. (A failed write is
    // handled by recover(), not here.)
    if (pending.replies.length + pending.events.length + pending.commands.length > MAX_PENDING_COMMANDS) await pending.written.catch(() => undefined);
  }

  /** Starts the partition's write loop unless it runs: it writes whatever is pending, until nothing is. */
  private startWriting(ownership: Ownership): void {
    if (ownership.writing) return;
    let failure: { error: unknown; resumeAt: bigint | undefined } | undefined;
    ownership.writing = (async () => {
      const publisher = await ownership.ready;
      const ledger = this.ledger(ownership.partition);
      while (ownership.pending) {
        const pending = ownership.pending;
        ownership.pending = undefined;
        try {
          const commitOffsets = pending.commitOffsets || performance.now() - ownership.offsetsCommittedAt >= OFFSET_COMMIT_INTERVAL_MS;
          const consumed = pending.consumed ?? ownership.uncommitted;
          const nothingToWrite = pending.events.length === 0 && pending.replies.length === 0 && pending.commands.length === 0 && pending.deadLetters.length === 0;
          if (nothingToWrite && !(commitOffsets && consumed)) {
            if (consumed) ownership.uncommitted = consumed;
            pending.settle();
            continue;
          }
          await this.write(ownership, publisher, ledger, pending, commitOffsets && consumed ? [consumed] : []);
          if (commitOffsets && consumed) {
            ownership.uncommitted = undefined;
            ownership.offsetsCommittedAt = performance.now();
          } else if (consumed) {
            ownership.uncommitted = consumed;
          }
          pending.settle();
        } catch (error) {
          pending.settle(error);
          // Decided after the failed batch, on state that has just been thrown away.
          const later = ownership.pending as PendingWrite | undefined;
          later?.settle(error);
          ownership.pending = undefined;
          failure = { error, resumeAt: pending.firstCommand ?? later?.firstCommand };
        }
      }
    })()
      // Only a failed claim gets here (write errors are handled above); the handler reports it.
      .catch(() => undefined)
      .finally(() => {
        ownership.writing = undefined;
        if (failure) this.recover(ownership, failure.resumeAt, failure.error);
        // Something decided between the last check and now.
        else if (ownership.pending) this.startWriting(ownership);
      });
  }

  /** Commits the partition's written-but-uncommitted offset in the next transaction, even if it has nothing else. */
  private commitOffsetsSoon(ownership: Ownership): void {
    const pending = (ownership.pending ??= newPendingWrite());
    pending.commitOffsets = true;
    this.startWriting(ownership);
  }

  private decideOne(ledger: PartitionLedger, message: ReceivedMessage, now: EpochMs): Decided {
    let envelope: CommandEnvelope;
    try {
      envelope = decodeCommandEnvelope(message.value);
    } catch (error) {
      // A malformed command changes nothing; it is dead-lettered and skipped.
      return { events: [], replies: [], commands: [], unrecorded: false, deadLetter: { message, reason: `malformed command: ${errorReason(error)}` } };
    }
    const { command, deadlineMs } = envelope;
    if (deadlineMs !== undefined && now > deadlineMs) {
      // The asker has given up and answered "not decided": deciding now would hold a license for
      // nobody. Nothing is written; the offset is committed soon like any command without events.
      this.options.logger.info(
        { event: 'command_expired', partition: message.partition, offset: message.offset, request_id: command.metadata.requestId, late_ms: now - deadlineMs },
        'command arrived after its deadline; not decided',
      );
      return { events: [], replies: [], commands: [], unrecorded: true };
    }
    if (message.key !== streamOf(command)) {
      return { events: [], replies: [], commands: [], unrecorded: false, deadLetter: { message, reason: `misrouted command: key is not the id of its stream ${streamOf(command)}` } };
    }
    let decided;
    try {
      decided = decideEnvelope(ledger, envelope, now);
    } catch (error) {
      // The decider is pure and throws before applying anything: a bug must not stop the partition.
      return { events: [], replies: [], commands: [], unrecorded: false, deadLetter: { message, reason: `cannot decide command: ${errorReason(error)}` } };
    }
    return {
      events: [...decided.events],
      replies: decided.replies.map(({ to, reply }) => ({ key: to, value: encodeJson(reply) })),
      // Keyed by stream, not given a partition: the same partitioner as the clients' places them.
      commands: decided.followUps.map((followUp) => ({ key: streamOf(followUp.command), value: encodeJson(followUp) })),
      unrecorded: decided.unrecorded,
    };
  }

  private async write(
    ownership: Ownership,
    publisher: TransactionalPublisher,
    ledger: PartitionLedger,
    decided: Pick<PendingWrite, 'events' | 'replies' | 'commands' | 'deadLetters'>,
    consumed: readonly ConsumedOffset[],
  ): Promise<void> {
    const { topics, groupId } = this.options;
    const deadLetterTopic = this.options.deadLetterTopic ?? Topics.deadLetters.name;
    const failedAt = new Date();
    try {
      const work = async (tx: Transaction): Promise<bigint | undefined> => {
        const batches = await tx.sendAll([
          {
            topic: topics.events,
            messages: decided.events.map((event) => ({ key: streamOfEvent(event), partition: ledger.partition, value: encodeJson(event), headers: { type: event.type } })),
          },
          { topic: topics.replies, messages: decided.replies },
          { topic: topics.commands, messages: decided.commands },
          { topic: deadLetterTopic, messages: decided.deadLetters.map(({ message, reason }) => deadLetterMessage(message, groupId, reason, failedAt)) },
        ]);
        const written = batches.find((b) => b.topic === topics.events);
        if (consumed.length > 0) await tx.commitConsumerOffsets(groupId, consumed);
        return written ? BigInt(written.baseOffset) + BigInt(decided.events.length) : undefined;
      };
      // A refusal without effect (the coordinator busy with the previous commit) is expected with
      // back-to-back transactions: try again quietly. Re-claiming would cost a rebuild from the log.
      const writtenUpTo = await inTransactionRetrying(publisher, work, {
        onRetry: (attempt, refusal, delayMs) =>
          this.options.logger.debug({ event: 'write_retry', partition: ledger.partition, attempt, refusal, retry_in_ms: delayMs }, 'transaction refused without effect; retrying'),
      });
      ownership.wroteAt = performance.now();
      if (writtenUpTo !== undefined) ledger.writtenUpTo(writtenUpTo);
      for (const { message, reason } of decided.deadLetters) {
        const record = deadLetteredRecord(message, groupId, reason);
        this.options.logger.error({ event: 'dead_lettered', ...record, dead_letter_topic: deadLetterTopic }, 'command dead-lettered and skipped');
        this.options.onDeadLetter?.(record);
      }
    } catch (error) {
      // The state already holds events that were not written: throw it away and rebuild it from
      // the log; the commands are consumed again from the last committed offset.
      this.options.logger.error(
        { event: error instanceof ProducerFencedError ? 'fenced' : 'write_failed', partition: ledger.partition, err: error },
        'ledger write failed; rebuilding partition state',
      );
      ownership.revoked = true;
      ownership.failed = error;
      this.rebuild(ledger.partition);
      throw error;
    }
  }

  private rebuild(partition: number): void {
    this.ledgers.set(partition, new PartitionLedger(partition));
    this.stateReader?.seek(this.options.topics.events, partition, '0');
  }

  private expireDueLocks(): void {
    const now = this.clock();
    for (const ownership of this.owned.values()) {
      if (ownership.revoked || !ownership.publisher) continue;
      const ledger = this.ledger(ownership.partition);
      let pending: PendingWrite | undefined;
      for (const state of ledger.agreements.values()) {
        const at = nextExpiry(state);
        if (at === undefined || at > now) continue;
        const command: ExpireLocks = {
          type: 'ExpireLocks',
          data: { agreementId: state.agreementId },
          metadata: { requestId: `expire:${state.agreementId}:${now}` },
        };
        pending ??= ownership.pending ??= newPendingWrite();
        pending.events.push(...ledger.decideAndApply(command satisfies LeaseCommand, now).events);
      }
      if (!pending) continue;
      this.startWriting(ownership);
      pending.written.catch((error: unknown) => {
        this.options.logger.warn({ event: 'expiry_failed', partition: ownership.partition, err: error }, 'expiry run failed');
      });
    }
  }
}
