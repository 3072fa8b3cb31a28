import type { LeaseProcessorLogger } from './lease-processor-options';
import type { PartitionLedger } from './partition-ledger';
import type { SnapshotManifest } from './snapshot-records';
import type { SnapshotStore } from './snapshot-store';
import type { SnapshotMark } from './state-writer';

/**
 * The lease instance's side of snapshots: loads a partition's latest snapshot when it is ahead of
 * the state the instance has (at start, at a claim, after a rebuild), and remembers the latest
 * snapshot of each partition it knows of, which decides when the next one is due. A snapshot that
 * cannot be read or fails its check is logged (`snapshot_unusable`) and the partition is folded
 * from the log instead.
 */
export class SnapshotLoader {
  private readonly marks = new Map<number, SnapshotMark>();

  constructor(
    private readonly store: SnapshotStore | undefined,
    private readonly logger: LeaseProcessorLogger,
  ) {}

  get enabled(): boolean {
    return this.store !== undefined;
  }

  latest(partition: number): SnapshotMark | undefined {
    return this.marks.get(partition);
  }

  /** A snapshot this instance wrote (or learnt of): the next one is due from it. */
  remember(partition: number, mark: SnapshotMark): void {
    const known = this.marks.get(partition);
    if (!known || mark.coveredOffset >= known.coveredOffset) this.marks.set(partition, mark);
  }

  /**
   * The latest snapshot of each partition that covers more than `have(partition)`, restored, by
   * partition; partitions without one (none, not newer, unusable) are left out.
   */
  async loadNewer(partitions: readonly number[], have: (partition: number) => bigint): Promise<Map<number, PartitionLedger>> {
    const loaded = new Map<number, PartitionLedger>();
    if (!this.store || partitions.length === 0) return loaded;
    const started = performance.now();
    const results = await this.store.load(partitions, have);
    for (const [partition, result] of results) {
      switch (result.kind) {
        case 'none':
          break;
        case 'not-newer':
          this.remember(partition, markOf(result.manifest));
          break;
        case 'loaded':
          this.remember(partition, markOf(result.manifest));
          loaded.set(partition, result.ledger);
          this.logger.info(
            {
              event: 'snapshot_loaded',
              partition,
              covered_offset: result.manifest.coveredOffset,
              taken_at: new Date(result.manifest.takenAtMs).toISOString(),
              bytes: result.manifest.bodyBytes,
              ms: Math.round(performance.now() - started),
            },
            'partition state loaded from its snapshot; folding the events after it',
          );
          break;
        case 'unusable':
          this.logger.warn(
            { event: 'snapshot_unusable', partition, snapshot_offset: result.offset, reason: result.reason },
            'the partition snapshot cannot be used; its state is folded from the log instead',
          );
          break;
        default: {
          const unknown: never = result;
          throw new Error(`unknown snapshot load ${JSON.stringify(unknown)}`);
        }
      }
    }
    return loaded;
  }
}

function markOf(manifest: SnapshotManifest): SnapshotMark {
  return { coveredOffset: BigInt(manifest.coveredOffset), takenAtMs: manifest.takenAtMs, chunks: manifest.chunkOffsets.length };
}
