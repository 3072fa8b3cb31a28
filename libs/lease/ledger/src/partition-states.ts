import type { MessageBus, PartitionRange, ReceivedMessage, Subscription } from '@license-ledger/platform-kafka';
import { FoldThreadsConfig, foldRanges } from './fold-threads';
import type { LeaseProcessorLogger } from './lease-processor-options';
import { PartitionLedger } from './partition-ledger';
import { SnapshotLoader } from './snapshot-loader';

/** Tries of reading the partitions' snapshots before folding their whole log instead. */
const SNAPSHOT_READ_ATTEMPTS = 5;

export interface PartitionStatesOptions {
  readonly bus: MessageBus;
  readonly eventsTopic: string;
  /** The state reader's group, this instance's alone (it commits nothing). */
  readonly readerGroupId: string;
  readonly snapshots: SnapshotLoader;
  readonly logger: LeaseProcessorLogger;
  /** True once the processor stops: reads and retries are given up. */
  readonly stopped: () => boolean;
  /** Fold threads for the partitions read from the log's start (see fold-threads.ts). */
  readonly foldThreads?: FoldThreadsConfig;
}

/**
 * Every partition's folded state (a PartitionLedger), kept up with the events topic: loaded from
 * the partition's latest snapshot when that is ahead, read up to the log's end at start in one
 * bounded read, then followed by a subscription of this instance's own. A partition's owner writes
 * ahead of the log (`ownerWriting`): its state is left alone until the ownership ends.
 */
export class PartitionStates {
  private readonly ledgers = new Map<number, PartitionLedger>();
  /** Per partition: records folded from the log into its state since the state began (empty or a snapshot). */
  private readonly folded = new Map<number, number>();
  private reader: Subscription | undefined;

  constructor(private readonly options: PartitionStatesOptions) {}

  ledger(partition: number): PartitionLedger {
    let ledger = this.ledgers.get(partition);
    if (!ledger) {
      ledger = new PartitionLedger(partition);
      this.ledgers.set(partition, ledger);
    }
    return ledger;
  }

  /** Records of `partition` folded from the log since its state began or was loaded from a snapshot (tests, logs). */
  foldedRecords(partition: number): number {
    return this.folded.get(partition) ?? 0;
  }

  /** Loads the snapshots, reads up to the log's end and starts following it; the subscription is the caller's to stop. */
  async start(): Promise<Subscription> {
    const { bus, eventsTopic } = this.options;
    // Each partition's latest snapshot first: only the events after it are folded.
    await this.adoptSnapshots(undefined);
    await this.catchUpWithLog();
    this.reader = await bus.subscribe({
      groupId: this.options.readerGroupId,
      topics: [eventsTopic],
      fromBeginning: true,
      commit: 'none',
      // An owner's own writes are in its state already; the rest matters when a partition is
      // claimed (at most maxWaitMs later). Large fetches keep a busy log from costing one each.
      maxWaitMs: 100,
      minBytes: 256 * 1024,
      // The group commits nothing: after a rejoin, go on from where each state is, not from 0.
      onAssignment: (assigned) => this.seekToStates(assigned.map((a) => a.partition)),
      onMessages: async (messages, batch) => this.applyFromLog(batch.partition, messages),
    });
    this.seekToStates([...this.ledgers.keys()]);
    return this.reader;
  }

  /**
   * Replaces the state of each of `partitions` (every one when undefined) whose latest snapshot is
   * ahead of it (at start, at a claim, after a rebuild) and moves the log's reader there. Reading
   * snapshots is an optimisation: when it fails, the states are folded from the log as they are.
   */
  async adoptSnapshots(only: readonly number[] | undefined): Promise<void> {
    const { snapshots, bus, eventsTopic, logger } = this.options;
    if (!snapshots.enabled) return;
    let loaded: Map<number, PartitionLedger> | undefined;
    // A broker still settling (a topic just created, a leader moving) answers with a retriable error.
    for (let attempt = 1; loaded === undefined; attempt++) {
      try {
        const partitions = only ?? (await bus.partitionRanges(eventsTopic)).map((range) => range.partition);
        loaded = await snapshots.loadNewer(partitions, (partition) => this.ledger(partition).nextOffset);
      } catch (error) {
        if (attempt < SNAPSHOT_READ_ATTEMPTS && !this.options.stopped()) {
          await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
          continue;
        }
        logger.warn({ event: 'snapshot_read_failed', partitions: only, err: error }, 'cannot read partition snapshots; folding the log instead');
        return;
      }
    }
    for (const [partition, snapshot] of loaded) {
      const current = this.ledger(partition);
      // The state moved past it while it was read, or an owner writes ahead of the log: keep that.
      if (current.ownerWriting || current.nextOffset >= snapshot.nextOffset) continue;
      this.ledgers.set(partition, snapshot);
      this.folded.set(partition, 0);
      this.seekToStates([partition]);
    }
  }

  /** Throws the partition's state away (it holds decisions that were not written) and folds it again. */
  rebuild(partition: number): void {
    this.ledgers.set(partition, new PartitionLedger(partition));
    this.folded.set(partition, 0);
    this.reader?.seek(this.options.eventsTopic, partition, '0');
    // From the latest snapshot rather than the start, once it is read.
    void this.adoptSnapshots([partition]);
  }

  private applyFromLog(partition: number, messages: readonly ReceivedMessage[]): void {
    const ledger = this.ledger(partition);
    // Everything after our claim marker is ours and already in this state — together with decisions
    // not yet written, after which a record read back (before writtenUpTo) must not apply again.
    if (ledger.ownerWriting) return;
    let applied: number;
    try {
      // Records below nextOffset (the owner's own writes, a snapshot's) are passed over, not decoded.
      applied = ledger.applyBatchFromLog(messages);
    } catch (error) {
      // A record we cannot read is a broken log: state past it would be wrong. Stop deciding.
      const offset = messages.find((message) => BigInt(message.offset) >= ledger.nextOffset)?.offset;
      this.options.logger.error({ event: 'broken_log', partition, offset, err: error }, 'cannot apply ledger record');
      throw error;
    }
    if (applied > 0) this.folded.set(partition, this.foldedRecords(partition) + applied);
  }

  /**
   * Folds every partition's state up to where the log ends now in one bounded read (the lean
   * reader, several times the consumer's rate), partitions without a snapshot on fold threads too
   * when configured: the subscription then follows only what comes after. Only a speed-up: if the
   * read fails, the subscription folds from where the states are.
   */
  private async catchUpWithLog(): Promise<void> {
    const { bus, eventsTopic, logger } = this.options;
    const started = performance.now();
    let records = 0;
    let onThreads = 0;
    try {
      const ranges = (await bus.partitionRanges(eventsTopic)).map((range) => ({
        ...range,
        start: String(clamp(this.ledger(range.partition).nextOffset, BigInt(range.start), BigInt(range.end))),
      }));
      const readHere = (here: readonly PartitionRange[]): Promise<void> =>
        bus.readRanges({
          topic: eventsTopic,
          ranges: here,
          onMessages: (messages) => {
            const [first] = messages;
            if (first === undefined || this.options.stopped()) return;
            this.applyFromLog(first.partition, messages);
            records += messages.length;
          },
        });
      const folded = await foldRanges({
        config: this.options.foldThreads,
        topic: eventsTopic,
        ranges,
        movable: (range) => this.startsEmpty(range.partition),
        readHere,
        logger,
        stopped: this.options.stopped,
      });
      for (const [partition, { ledger, applied }] of folded) {
        if (!this.startsEmpty(partition)) continue;
        this.ledgers.set(partition, ledger);
        this.folded.set(partition, applied);
        onThreads += applied;
      }
      logger.info({ event: 'caught_up', records: records + onThreads, on_threads: onThreads, ms: Math.round(performance.now() - started) }, 'ledger state read up to the end of the log');
    } catch (error) {
      logger.warn({ event: 'catch_up_failed', records, err: error }, 'could not read the ledger up to its end at once; following it instead');
    }
  }

  /**
   * True while a partition's state is still empty and nobody writes it: a fold thread, which starts
   * from nothing, may fold it (a state a snapshot began is folded on here), and its result replaces it.
   */
  private startsEmpty(partition: number): boolean {
    const ledger = this.ledger(partition);
    return ledger.nextOffset === 0n && !ledger.ownerWriting;
  }

  /** Moves the log's reader of each partition to where its state is (a snapshot's offset, or on after a rejoin). */
  private seekToStates(partitions: readonly number[]): void {
    for (const partition of partitions) {
      const next = this.ledger(partition).nextOffset;
      if (next > 0n) this.reader?.seek(this.options.eventsTopic, partition, next.toString());
    }
  }
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}
