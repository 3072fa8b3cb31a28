import type { LedgerEvent } from '@license-ledger/lease-domain';
import type { PartitionedMessage, Transaction, TransactionalPublisher } from '@license-ledger/platform-kafka';
import type { CompanionWork, TransactionCompanion } from './group-commit-writer';
import { keyDirectoryBackfill, keyDirectoryChanges } from './key-directory-records';
import type { LeaseProcessorLogger } from './lease-processor-options';
import type { PartitionLedger } from './partition-ledger';
import { PreparedSnapshot, prepareSnapshot, SnapshotStore } from './snapshot-store';
import { inTransactionRetrying } from './transaction-retry';

/** When a partition's owner writes a snapshot (LEDGER_SNAPSHOT_EVERY_RECORDS / _SECONDS in the lease service). */
export interface SnapshotPolicy {
  /** Once this many records of the events partition came after the latest snapshot; 0: never. */
  readonly everyRecords: number;
  /** Or once the latest snapshot is this old and any record came after it. */
  readonly everyMs: number;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = { everyRecords: 50_000, everyMs: 10 * 60_000 };

/** What this instance knows of a partition's latest snapshot (read at start or a claim, or written). */
export interface SnapshotMark {
  readonly coveredOffset: bigint;
  readonly takenAtMs: number;
  readonly chunks: number;
}

export interface StateWriterOptions {
  readonly partition: number;
  /** The partition's ledger as it is now (the processor may replace it). */
  readonly ledger: () => PartitionLedger;
  /** Absent: no snapshots are written. */
  readonly snapshots: SnapshotStore | undefined;
  /** Absent: no key directory is written. */
  readonly keyDirectoryTopic: string | undefined;
  readonly policy: SnapshotPolicy;
  readonly clock: () => number;
  readonly latestSnapshot: () => SnapshotMark | undefined;
  readonly onSnapshotWritten: (mark: SnapshotMark) => void;
  readonly logger: LeaseProcessorLogger;
}

/**
 * What an owner writes besides its events, from the state those events lead to: the key
 * directory's changes with every batch that binds, revokes or closes, and a snapshot of the
 * partition with the batch that makes one due. Both ride in the batch's own transaction, so they
 * are committed exactly when the events they follow from are; a snapshot is encoded as its batch
 * is taken (the state is then the log plus the batch) and covers the offset past the batch's
 * events, known once they are sent.
 */
export class StateWriter implements TransactionCompanion {
  /** Time of the claim: with no snapshot known, the age a snapshot is due after counts from here. */
  private readonly since: number;

  constructor(private readonly options: StateWriterOptions) {
    this.since = options.clock();
  }

  prepare(events: readonly LedgerEvent[]): CompanionWork | undefined {
    const ledger = this.options.ledger();
    const directory = this.options.keyDirectoryTopic === undefined ? [] : keyDirectoryChanges(events, ledger);
    // No events: the state is the log up to where it has read (the previous write's end).
    const stateEnd = ledger.nextOffset;
    const snapshot = this.due(stateEnd + BigInt(events.length)) ? this.encode(ledger) : undefined;
    if (directory.length === 0 && snapshot === undefined) return undefined;
    let written: SnapshotMark | undefined;
    return {
      write: async (tx, eventsEnd) => {
        await this.sendDirectory(tx, directory);
        if (snapshot) written = await this.sendSnapshot(tx, snapshot, eventsEnd ?? stateEnd);
      },
      committed: () => {
        if (written) this.wrote(written, snapshot?.body.length ?? 0);
      },
    };
  }

  /**
   * Right after a claim (the state has read the log past the claim's marker, and nothing is decided
   * yet): every binding of the partition again (key-directory-records.ts), and a snapshot if one is
   * due (a claim after a long history is what makes the next claim fast), in one transaction.
   */
  async writeAtClaim(publisher: TransactionalPublisher): Promise<void> {
    const ledger = this.options.ledger();
    const directory = this.options.keyDirectoryTopic === undefined ? [] : keyDirectoryBackfill(ledger);
    const coveredOffset = ledger.nextOffset;
    const snapshot = this.due(coveredOffset) ? this.encode(ledger) : undefined;
    if (directory.length === 0 && snapshot === undefined) return;
    const written = await inTransactionRetrying(publisher, async (tx) => {
      await this.sendDirectory(tx, directory);
      return snapshot ? this.sendSnapshot(tx, snapshot, coveredOffset) : undefined;
    });
    if (written) this.wrote(written, snapshot?.body.length ?? 0);
  }

  private due(endAfterBatch: bigint): boolean {
    const { policy } = this.options;
    if (policy.everyRecords <= 0 || this.options.snapshots === undefined) return false;
    const latest = this.options.latestSnapshot();
    const since = endAfterBatch - (latest?.coveredOffset ?? 0n);
    if (since <= 0n) return false;
    if (since >= BigInt(policy.everyRecords)) return true;
    return this.options.clock() - (latest?.takenAtMs ?? this.since) >= policy.everyMs;
  }

  /** Never fails the batch: a snapshot that cannot be encoded is logged and skipped. */
  private encode(ledger: PartitionLedger): PreparedSnapshot | undefined {
    try {
      return prepareSnapshot(ledger, this.options.clock());
    } catch (error) {
      this.options.logger.error({ event: 'snapshot_failed', partition: this.options.partition, err: error }, 'cannot encode a snapshot of the partition');
      return undefined;
    }
  }

  private async sendDirectory(tx: Transaction, records: readonly PartitionedMessage[]): Promise<void> {
    const topic = this.options.keyDirectoryTopic;
    if (topic !== undefined && records.length > 0) await tx.send(topic, records);
  }

  private async sendSnapshot(tx: Transaction, snapshot: PreparedSnapshot, coveredOffset: bigint): Promise<SnapshotMark | undefined> {
    const store = this.options.snapshots;
    if (!store) return undefined;
    const manifest = await store.write(tx, snapshot, coveredOffset, this.options.latestSnapshot()?.chunks ?? 0);
    return { coveredOffset, takenAtMs: manifest.takenAtMs, chunks: manifest.chunkOffsets.length };
  }

  private wrote(mark: SnapshotMark, bytes: number): void {
    this.options.onSnapshotWritten(mark);
    this.options.logger.info(
      { event: 'snapshot_written', partition: this.options.partition, covered_offset: String(mark.coveredOffset), bytes, chunks: mark.chunks },
      'partition snapshot written',
    );
  }
}
