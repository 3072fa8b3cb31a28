import { EpochMs, LedgerEvent, streamOfEvent } from '@license-ledger/lease-domain';
import type { PartitionedMessage } from '@license-ledger/platform-kafka';
import type { ChainPosition } from './chain-position';
import { chainHash, CheckpointSigner, encodeCheckpointRecord, encodeEventRecord } from './chain-records';

/** When an owner signs its partition's chain (docs/ledger-integrity.md). */
export interface CheckpointPolicy {
  /** A checkpoint goes with the batch that brings the records since the last one to this many. */
  readonly everyRecords: number;
  /** ... or with the first batch this long after the last one; a quiet partition gets one of its own. */
  readonly everyMs: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { everyRecords: 10_000, everyMs: 30_000 };

/** What an owner needs to sign checkpoints. */
export interface Checkpoints {
  readonly signer: CheckpointSigner;
  readonly policy: CheckpointPolicy;
  readonly clock: () => EpochMs;
}

/** Whether a checkpoint is due once `adding` more records follow `position`. */
export function checkpointDue(position: ChainPosition, adding: number, nowMs: EpochMs, policy: CheckpointPolicy): boolean {
  const unsigned = position.sinceCheckpoint + adding;
  if (unsigned === 0) return false;
  if (unsigned >= policy.everyRecords) return true;
  return position.lastCheckpointAt === undefined || nowMs - position.lastCheckpointAt >= policy.everyMs;
}

export interface ChainedRecords {
  /** The events topic's records of one transaction, linked in order, the checkpoint (if any) last. */
  readonly records: PartitionedMessage[];
  /** Where the chain stands once they are committed. */
  readonly end: ChainPosition;
}

/**
 * Links a batch's events into the partition's chain after `start`, and signs a checkpoint after
 * them when `checkpointAt` is given: one transaction's records for the events topic.
 */
export function chainRecords(
  partition: number,
  start: ChainPosition,
  events: readonly LedgerEvent[],
  checkpoint: { readonly signer: CheckpointSigner; readonly at: EpochMs } | undefined,
): ChainedRecords {
  const records: PartitionedMessage[] = [];
  let head = start.head;
  for (const event of events) {
    const value = encodeEventRecord(event, head);
    head = chainHash(head, value);
    records.push({ key: streamOfEvent(event), partition, value, headers: { type: event.type } });
  }
  if (!checkpoint) return { records, end: { head, sinceCheckpoint: start.sinceCheckpoint + events.length, lastCheckpointAt: start.lastCheckpointAt } };
  const value = encodeCheckpointRecord(partition, head, checkpoint.at, checkpoint.signer);
  records.push({ key: null, partition, value, headers: { type: 'LedgerCheckpoint' } });
  return { records, end: { head: chainHash(head, value), sinceCheckpoint: 0, lastCheckpointAt: checkpoint.at } };
}
