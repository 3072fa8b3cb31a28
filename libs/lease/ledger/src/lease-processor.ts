import { randomUUID } from 'node:crypto';
import { EpochMs } from '@license-ledger/lease-domain';
import {
  ProducerFencedError,
  ReceivedMessage,
  Subscription,
  TopicPartition,
  Topics,
  TransactionalPublisher,
} from '@license-ledger/platform-kafka';
import { decideCommand, decideDueExpiries } from './decide-command';
import { DEFAULT_CHECKPOINT_POLICY } from './chain-writer';
import { GroupCommitWriter } from './group-commit-writer';
import type { LeaseProcessorOptions } from './lease-processor-options';
import { claimPartition } from './partition-claim';
import { PartitionLedger } from './partition-ledger';
import {
  claiming,
  holdsPartition,
  isAheadOfLog,
  nextOwnershipState,
  OwnershipEvent,
  OwnershipState,
  ownerOf,
  reclaimDelayMs,
} from './partition-ownership';
import { OFFSET_COMMIT_INTERVAL_MS } from './pending-batch';
import { PartitionStates } from './partition-states';
import { SnapshotLoader } from './snapshot-loader';
import { SnapshotStore } from './snapshot-store';
import { DEFAULT_SNAPSHOT_POLICY, StateWriter } from './state-writer';

export type { LedgerTopics } from './ledger-topics';
export type { LeaseProcessorLogger, LeaseProcessorOptions } from './lease-processor-options';

/** One generation of a commands partition's ownership (see partition-ownership.ts). */
interface Ownership {
  readonly partition: number;
  /** Resolves with the fenced-in publisher once this instance's state has caught up. */
  readonly claim: Promise<TransactionalPublisher>;
  /** Generations of this partition that failed one after another right before this one (the claim's backoff). */
  readonly failuresBefore: number;
  state: OwnershipState<GroupCommitWriter>;
}

/** Past this many decided-but-unwritten records a partition's consumer waits for the writer. */
const MAX_PENDING_COMMANDS = 5_000;

/**
 * The lease service's engine. Every instance folds the whole event topic into per-partition state
 * (a read-committed reader); the instance the consumer group assigns a commands partition becomes
 * its only writer: it fences earlier writers with a per-partition transactional id, waits until its
 * state includes everything they committed, then decides commands and hands the decisions to the
 * partition's GroupCommitWriter, which writes events, replies and the consumed command offsets in
 * one transaction per batch. A crash leaves either all of a transaction or none.
 */
export class LeaseProcessor {
  private readonly snapshotStore: SnapshotStore | undefined;
  private readonly snapshots: SnapshotLoader;
  private readonly states: PartitionStates;
  /** The current generation's ownerships; revoked ones leave it before they finish writing. */
  private readonly owned = new Map<number, Ownership>();
  private readonly subscriptions: Subscription[] = [];
  private commands: Subscription | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private offsetTimer: NodeJS.Timeout | undefined;
  private lifecycle: 'active' | 'stopped' = 'active';

  private readonly clock: () => EpochMs;
  private readonly newId: () => string;

  constructor(private readonly options: LeaseProcessorOptions) {
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? randomUUID;
    const { bus, topics, logger } = options;
    this.snapshotStore = topics.snapshots === undefined ? undefined : new SnapshotStore(bus, topics.snapshots, topics.events);
    this.snapshots = new SnapshotLoader(this.snapshotStore, logger);
    this.states = new PartitionStates({
      bus,
      eventsTopic: topics.events,
      // A group of its own: every instance reads every partition of the ledger.
      readerGroupId: `${options.groupId}.state.${options.instanceId}`,
      snapshots: this.snapshots,
      logger,
      stopped: () => this.lifecycle === 'stopped',
      ...(options.foldThreads ? { foldThreads: options.foldThreads } : {}),
    });
  }

  /** Records of `partition` folded from the log since its state began or was loaded from a snapshot (tests, logs). */
  foldedRecords(partition: number): number {
    return this.states.foldedRecords(partition);
  }

  /** Partitions this instance holds in the current generation: claimed or being claimed (readiness, tests). */
  ownedPartitions(): number[] {
    return [...this.owned.values()].filter((o) => holdsPartition(o.state)).map((o) => o.partition).sort((a, b) => a - b);
  }

  ledger(partition: number): PartitionLedger {
    return this.states.ledger(partition);
  }

  async start(): Promise<void> {
    const { bus, topics } = this.options;
    this.subscriptions.push(await this.states.start());
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
      const now = performance.now();
      for (const ownership of this.owned.values()) {
        const writer = ownerOf(ownership.state);
        if (writer?.offsetsDueWhileQuiet(now)) writer.commitOffsetsSoon();
        else if (writer?.checkpointDueWhileQuiet()) writer.checkpointSoon();
      }
    }, OFFSET_COMMIT_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    this.lifecycle = 'stopped';
    clearInterval(this.expiryTimer);
    clearInterval(this.offsetTimer);
    // Write and commit what was decided while still in the group, so no one fences us mid-way.
    await this.dropOwnerships();
    await Promise.allSettled(this.subscriptions.map((s) => s.stop()));
  }

  /** What an owner of `partition` writes besides its events: key bindings and snapshots. */
  private stateWriter(partition: number): StateWriter {
    const { topics, logger } = this.options;
    return new StateWriter({
      partition,
      ledger: () => this.ledger(partition),
      snapshots: this.snapshotStore,
      keyDirectoryTopic: topics.keyDirectory,
      policy: this.options.snapshotPolicy ?? DEFAULT_SNAPSHOT_POLICY,
      clock: this.clock,
      latestSnapshot: () => this.snapshots.latest(partition),
      onSnapshotWritten: (mark) => this.snapshots.remember(partition, mark),
      logger,
    });
  }

  private reassign(assigned: readonly TopicPartition[]): void {
    const partitions = assigned.filter((a) => a.topic === this.options.topics.commands).map((a) => a.partition);
    // Kafka's eager rebalance revokes everything: re-claim each partition, even one kept, since
    // another instance may have written to it in between. A claim starts only once the previous
    // ownerships have written (or failed and rebuilt) what they decided: fencing our own write in
    // flight would leave its decisions in memory, unwritten, under the new claim.
    const dropped = this.dropOwnerships();
    for (const partition of partitions) this.own(partition, 0, (current) => dropped.then(() => this.claim(partition, current)));
    this.options.logger.info({ event: 'assigned', partitions }, 'lease partitions assigned');
  }

  /**
   * Starts a generation of `partition`'s ownership, owning once the claim `start` begins resolves.
   * The claim is given up once the generation is no longer this instance's current one.
   */
  private own(partition: number, failuresBefore: number, start: (current: () => boolean) => Promise<TransactionalPublisher>): void {
    // Asked only once the claim runs (after a promise), when `claimed` is set.
    const current = (): boolean => this.owned.get(partition) === claimed && holdsPartition(claimed.state);
    const claimed: Ownership = { partition, failuresBefore, claim: start(current), state: claiming() };
    const ownedSince = performance.now();
    this.owned.set(partition, claimed);
    claimed.claim.then(
      (publisher) => this.transition(claimed, { type: 'claimed', writer: this.writerFor(claimed, publisher, ownedSince) }),
      (error: unknown) => {
        this.transition(claimed, { type: 'claimFailed', error });
        if (!current()) return;
        this.options.logger.warn({ event: 'claim_failed', partition, err: error }, 'could not claim partition; claiming it again');
        this.claimAgain(claimed, error, undefined);
      },
    );
  }

  /** The one place an ownership changes state, with the effects on the partition's ledger. */
  private transition(ownership: Ownership, event: OwnershipEvent<GroupCommitWriter>): void {
    const before = ownership.state;
    const after = nextOwnershipState(before, event);
    if (after === before) return;
    ownership.state = after;
    if (isAheadOfLog(before) !== isAheadOfLog(after)) this.ledger(ownership.partition).ownerWriting = isAheadOfLog(after);
    // The state already holds events that were not written: throw it away and rebuild it from the
    // log; the commands are consumed again from the last committed offset.
    if (after.phase === 'failed' && after.stage === 'write') this.states.rebuild(ownership.partition);
  }

  private writerFor(ownership: Ownership, publisher: TransactionalPublisher, ownedSince: number): GroupCommitWriter {
    const { partition } = ownership;
    const { topics, groupId, logger, onDeadLetter } = this.options;
    return new GroupCommitWriter({
      partition,
      topics,
      groupId,
      deadLetterTopic: this.options.deadLetterTopic ?? Topics.deadLetters.name,
      publisher,
      ownedSince,
      logger,
      onDeadLetter,
      onWritten: (eventsEnd) => this.ledger(partition).writtenUpTo(eventsEnd),
      companion: this.stateWriter(partition),
      chain: { position: () => this.ledger(partition).chain.position(), moveTo: (position) => this.ledger(partition).chain.moveTo(position) },
      checkpoints: this.options.ledgerKey && {
        signer: this.options.ledgerKey,
        policy: this.options.checkpointPolicy ?? DEFAULT_CHECKPOINT_POLICY,
        clock: this.clock,
      },
      onFailed: (error, resumeAt) => {
        logger.error(
          { event: error instanceof ProducerFencedError ? 'fenced' : 'write_failed', partition, err: error },
          'ledger write failed; rebuilding partition state',
        );
        this.transition(ownership, { type: 'writeFailed', error });
        this.recover(ownership, resumeAt, error);
      },
    });
  }

  /** After a failed write: claims the partition again on state rebuilt from the log. */
  private recover(failed: Ownership, resumeAt: bigint | undefined, error: unknown): void {
    if (this.lifecycle === 'stopped' || this.owned.get(failed.partition) !== failed) return;
    this.options.logger.warn({ event: 'reclaiming', partition: failed.partition, resume_at: resumeAt?.toString() }, 'claiming the partition again after a failed write');
    this.claimAgain(failed, error, resumeAt);
  }

  /**
   * Starts the next generation of a partition whose claim or write failed while it is still ours,
   * after a backoff (partition-ownership.ts), and consumes again from the first command whose
   * decision was thrown away, so those commands are answered without waiting for a rebalance that
   * may never come: a stale claim of our own or of another instance may have fenced us.
   */
  private claimAgain(failed: Ownership, error: unknown, resumeAt: bigint | undefined): void {
    const { partition } = failed;
    if (this.lifecycle === 'stopped' || this.owned.get(partition) !== failed) return;
    const failures = failed.state.phase === 'failed' && failed.state.stage === 'claim' ? failed.failuresBefore + 1 : 0;
    const delayMs = reclaimDelayMs(failures, error instanceof ProducerFencedError);
    const closed = failed.claim.then(
      (publisher) => publisher.close().catch(() => undefined),
      () => undefined,
    );
    this.own(partition, failures, (current) => closed.then(() => pauseWhile(delayMs, current)).then(() => this.claim(partition, current)));
    if (resumeAt !== undefined) this.commands?.seek(this.options.topics.commands, partition, resumeAt.toString());
  }

  /** Revokes every ownership; resolves once each has written and committed what it decided, and closed. */
  private async dropOwnerships(): Promise<void> {
    const dropped = [...this.owned.values()];
    this.owned.clear();
    for (const ownership of dropped) this.transition(ownership, { type: 'revoked' });
    await Promise.allSettled(dropped.map((ownership) => this.release(ownership)));
  }

  private async release(ownership: Ownership): Promise<void> {
    const writer = ownership.state.phase === 'revoked' ? ownership.state.writer : undefined;
    if (writer) {
      // Whatever was decided is written (or fails and is rebuilt) before the publisher goes, and
      // the consumed offset is committed so the next owner does not consume it again.
      await writer.settled();
      if (writer.hasUncommittedOffsets() && ownership.state.phase === 'revoked') writer.commitOffsetsSoon();
      await writer.settled();
    }
    // Written or rebuilt: from here the log's reader keeps this partition's state.
    const publisher = await ownership.claim.finally(() => this.transition(ownership, { type: 'released' }));
    await publisher.close();
  }

  private claim(partition: number, current: () => boolean): Promise<TransactionalPublisher> {
    const { bus, topics, groupId, instanceId, logger } = this.options;
    return claimPartition(partition, {
      bus,
      eventsTopic: topics.events,
      groupId,
      instanceId,
      clock: this.clock,
      newId: this.newId,
      timeoutMs: this.options.claimTimeoutMs ?? 60_000,
      logger,
      stateNextOffset: () => this.ledger(partition).nextOffset,
      givenUp: () => this.lifecycle === 'stopped' || !current(),
      catchUp: () => this.states.adoptSnapshots([partition]),
      caughtUp: (publisher) => this.stateWriter(partition).writeAtClaim(publisher),
      folded: () => this.foldedRecords(partition),
    });
  }

  private async handleCommands(source: TopicPartition, messages: readonly ReceivedMessage[]): Promise<void> {
    const ownership = this.owned.get(source.partition);
    if (ownership === undefined) return;
    if (ownership.state.phase === 'failed') throw ownership.state.error;
    if (ownership.state.phase === 'claiming') await ownership.claim;
    // Re-read after the wait: a rebalance may have replaced or revoked it.
    const current = this.owned.get(source.partition);
    const writer = current ? ownerOf(current.state) : undefined;
    if (!writer) return;
    const ledger = this.ledger(source.partition);
    const now = this.clock();
    const batch = writer.batch();
    batch.consume(source, messages);
    for (const message of messages) {
      const decision = decideCommand(ledger, message, now);
      if (decision.kind === 'expired') {
        // Nothing is written; the offset is committed with the batch like any command without events.
        this.options.logger.info(
          { event: 'command_expired', partition: message.partition, offset: message.offset, request_id: decision.requestId, late_ms: decision.lateMs },
          'command arrived after its deadline; not decided',
        );
      }
      batch.add(message, decision);
    }
    writer.flush();
    // Back-pressure: a writer far behind holds the consumer of this partition. (A failed write is
    // handled by recover(), not here.)
    if (batch.size > MAX_PENDING_COMMANDS) await batch.written.catch(() => undefined);
  }

  private expireDueLocks(): void {
    const now = this.clock();
    for (const ownership of this.owned.values()) {
      const writer = ownerOf(ownership.state);
      if (!writer) continue;
      const events = decideDueExpiries(this.ledger(ownership.partition), now);
      if (!events) continue;
      const batch = writer.batch();
      batch.addEvents(events);
      writer.flush();
      batch.written.catch((error: unknown) => {
        this.options.logger.warn({ event: 'expiry_failed', partition: ownership.partition, err: error }, 'expiry run failed');
      });
    }
  }
}

/** Waits `ms`, or less once `wanted` turns false (a stop or a rebalance), polling it. */
async function pauseWhile(ms: number, wanted: () => boolean): Promise<void> {
  const until = performance.now() + ms;
  while (wanted() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.min(50, ms)));
}
