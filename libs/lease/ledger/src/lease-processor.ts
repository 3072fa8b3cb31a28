import { randomUUID } from 'node:crypto';
import {
  EpochMs,
  ExpireLocks,
  LeaseCommand,
  LeaseEvent,
  nextExpiry,
} from '@license-ledger/lease-domain';
import {
  ConsumedOffset,
  MessageBus,
  PartitionedMessage,
  ProducerFencedError,
  ReceivedMessage,
  Subscription,
  TopicPartition,
  TransactionalPublisher,
} from '@license-ledger/platform-kafka';
import { PartitionLedger } from './partition-ledger';
import { CommandEnvelope, decodeCommandEnvelope, decodeLedgerRecord, encodeJson, PartitionClaimed, ReplyEnvelope } from './records';

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
}

/** A commands partition this instance owns in the current generation. */
interface Ownership {
  readonly partition: number;
  /** Resolves with the fenced-in publisher once this instance's state has caught up. */
  readonly ready: Promise<TransactionalPublisher>;
  revoked: boolean;
  /** Serialises command batches and expiry runs of the partition (both write and mutate state). */
  queue: Promise<unknown>;
}

interface Decided {
  readonly events: readonly LeaseEvent[];
  readonly replies: readonly PartitionedMessage[];
}

/**
 * The lease service's engine. Every instance folds the whole event topic into per-partition state
 * (a read-committed reader); the instance the consumer group assigns a commands partition becomes
 * its only writer: it fences earlier writers with a per-partition transactional id, waits until its
 * state includes everything they committed, then decides commands and writes events, replies and
 * the consumed command offsets in one transaction. A crash leaves either all of that or none.
 */
export class LeaseProcessor {
  private readonly ledgers = new Map<number, PartitionLedger>();
  private readonly owned = new Map<number, Ownership>();
  private readonly subscriptions: Subscription[] = [];
  private stateReader: Subscription | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private readonly clock: () => EpochMs;
  private readonly newId: () => string;

  constructor(private readonly options: LeaseProcessorOptions) {
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? randomUUID;
  }

  /** Owned partitions whose state has caught up (for readiness and tests). */
  ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
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
      maxWaitMs: 100,
      onMessages: async (messages, batch) => this.applyFromLog(batch.partition, messages),
    });
    this.subscriptions.push(this.stateReader);
    this.subscriptions.push(
      await bus.subscribe({
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
      }),
    );
    this.expiryTimer = setInterval(() => this.expireDueLocks(), this.options.expiryCheckIntervalMs ?? 1_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.expiryTimer);
    await Promise.allSettled(this.subscriptions.map((s) => s.stop()));
    await this.dropOwnership([...this.owned.keys()]);
  }

  private applyFromLog(partition: number, messages: readonly ReceivedMessage[]): void {
    const ledger = this.ledger(partition);
    for (const message of messages) {
      try {
        ledger.applyFromLog(BigInt(message.offset), decodeLedgerRecord(message.value));
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
    // another instance may have written to it in between.
    void this.dropOwnership([...this.owned.keys()]);
    for (const partition of partitions) {
      const ownership: Ownership = { partition, ready: this.claim(partition), revoked: false, queue: Promise.resolve() };
      ownership.ready.catch((error: unknown) => {
        this.options.logger.warn({ event: 'claim_failed', partition, err: error }, 'could not claim partition');
      });
      this.owned.set(partition, ownership);
    }
    this.options.logger.info({ event: 'assigned', partitions }, 'lease partitions assigned');
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
        await ownership.queue.catch(() => undefined);
        const publisher = await ownership.ready;
        await publisher.close();
      }),
    );
  }

  /** Fence earlier writers, mark the log, and wait until our state reader has read up to the mark. */
  private async claim(partition: number): Promise<TransactionalPublisher> {
    const { bus, topics, groupId, instanceId } = this.options;
    const publisher = await bus.transactionalPublisher(`${groupId}.partition-${partition}`);
    const marker: PartitionClaimed = {
      type: 'PartitionClaimed',
      data: { partition, owner: instanceId, claimId: this.newId() },
      metadata: { at: this.clock() },
    };
    const [written] = await publisher.inTransaction((tx) =>
      tx.send(topics.events, [{ key: null, partition, value: encodeJson(marker) }]),
    );
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
  }

  private async handleCommands(batch: TopicPartition, messages: readonly ReceivedMessage[]): Promise<void> {
    const ownership = this.owned.get(batch.partition);
    if (!ownership || ownership.revoked) return;
    const run = ownership.queue.then(async () => {
      const publisher = await ownership.ready;
      if (ownership.revoked) return;
      const ledger = this.ledger(batch.partition);
      const now = this.clock();
      const events: LeaseEvent[] = [];
      const replies: PartitionedMessage[] = [];
      for (const message of messages) {
        const decided = this.decideOne(ledger, message, now);
        events.push(...decided.events);
        replies.push(...decided.replies);
      }
      const last = messages[messages.length - 1];
      const consumed: ConsumedOffset[] = last ? [{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }] : [];
      await this.write(ownership, publisher, ledger, { events, replies }, consumed);
    });
    ownership.queue = run.catch(() => undefined);
    await run;
  }

  private decideOne(ledger: PartitionLedger, message: ReceivedMessage, now: EpochMs): Decided {
    let envelope: CommandEnvelope;
    try {
      envelope = decodeCommandEnvelope(message.value);
    } catch (error) {
      // A malformed command changes nothing; it is logged and skipped (its offset is committed).
      this.options.logger.warn({ event: 'malformed_command', partition: message.partition, offset: message.offset, err: error }, 'skipping malformed command');
      return { events: [], replies: [] };
    }
    const { command, replyTo } = envelope;
    if (message.key !== command.data.agreementId) {
      this.options.logger.warn({ event: 'misrouted_command', key: message.key, agreementId: command.data.agreementId }, 'command key is not its agreement id; skipping');
      return { events: [], replies: [] };
    }
    const decided = ledger.decideAndApply(command, now);
    const reply: ReplyEnvelope = { requestId: command.metadata.requestId, agreementId: command.data.agreementId, outcome: decided.outcome };
    return {
      events: [...decided.events],
      replies: replyTo === null ? [] : [{ key: replyTo, value: encodeJson(reply) }],
    };
  }

  private async write(
    ownership: Ownership,
    publisher: TransactionalPublisher,
    ledger: PartitionLedger,
    decided: Decided,
    consumed: readonly ConsumedOffset[],
  ): Promise<void> {
    const { topics, groupId } = this.options;
    try {
      const writtenUpTo = await publisher.inTransaction(async (tx) => {
        const [written] = await tx.send(
          topics.events,
          decided.events.map((event) => ({ key: event.data.agreementId, partition: ledger.partition, value: encodeJson(event), headers: { type: event.type } })),
        );
        await tx.send(topics.replies, decided.replies);
        if (consumed.length > 0) await tx.commitConsumerOffsets(groupId, consumed);
        return written ? BigInt(written.baseOffset) + BigInt(decided.events.length) : undefined;
      });
      if (writtenUpTo !== undefined) ledger.writtenUpTo(writtenUpTo);
    } catch (error) {
      // The state already holds events that were not written: throw it away and rebuild it from
      // the log; the commands are consumed again from the last committed offset.
      this.options.logger.error(
        { event: error instanceof ProducerFencedError ? 'fenced' : 'write_failed', partition: ledger.partition, err: error },
        'ledger write failed; rebuilding partition state',
      );
      ownership.revoked = true;
      this.owned.delete(ledger.partition);
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
      if (ownership.revoked) continue;
      const ledger = this.ledger(ownership.partition);
      const due = [...ledger.agreements.values()].filter((state) => {
        const at = nextExpiry(state);
        return at !== undefined && at <= now;
      });
      if (due.length === 0) continue;
      const run = ownership.queue.then(async () => {
        const publisher = await ownership.ready;
        if (ownership.revoked) return;
        const events: LeaseEvent[] = [];
        for (const state of due) {
          const command: ExpireLocks = {
            type: 'ExpireLocks',
            data: { agreementId: state.agreementId },
            metadata: { requestId: `expire:${state.agreementId}:${now}` },
          };
          events.push(...ledger.decideAndApply(command satisfies LeaseCommand, now).events);
        }
        await this.write(ownership, publisher, ledger, { events, replies: [] }, []);
      });
      ownership.queue = run.catch((error: unknown) => {
        this.options.logger.warn({ event: 'expiry_failed', partition: ownership.partition, err: error }, 'expiry run failed');
      });
    }
  }
}
