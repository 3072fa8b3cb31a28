import type { EpochMs } from '@license-ledger/lease-domain';
import { BODY_OFFSET, chainHash, decodeCheckpointBody, genesisHash, isVersion1, RecordKind } from './chain-records';
import { MalformedRecordError } from './malformed-record';

/** Where a partition's chain stands after the records a state has applied (snapshots keep it). */
export interface ChainPosition {
  /** The chain hash of the last record applied (the genesis hash before any). */
  readonly head: Buffer;
  /** Records applied since the last checkpoint (since the log's start when there is none). */
  readonly sinceCheckpoint: number;
  /** The time the last checkpoint names; undefined before the first. */
  readonly lastCheckpointAt: EpochMs | undefined;
}

export function initialChainPosition(partition: number): ChainPosition {
  return { head: genesisHash(partition), sinceCheckpoint: 0, lastCheckpointAt: undefined };
}

/** Unlinked records (markers, old JSON events) kept unhashed before the head is computed anyway. */
const MAX_PENDING = 32;

/**
 * Follows a partition's chain as a reader applies its records, cheaply: a version-1 record carries
 * its predecessor's chain hash, so the head is computed only when asked (at a claim, or for a
 * snapshot), from the last version-1 record and the few unlinked records after it. The links are
 * not checked here: that is `ledger verify`'s work (chain-verifier.ts).
 */
export class ChainTracker {
  private anchor: Buffer;
  /** The last version-1 record followed; the head is computed from it (and `pending`) when asked. */
  private lastLinked: Buffer | undefined;
  private pending: Buffer[] = [];
  private sinceCheckpoint: number;
  private lastCheckpointAt: EpochMs | undefined;

  constructor(position: ChainPosition) {
    this.anchor = position.head;
    this.sinceCheckpoint = position.sinceCheckpoint;
    this.lastCheckpointAt = position.lastCheckpointAt;
  }

  /** Called for every record of a replay: reads two bytes, allocates nothing. */
  follow(value: Buffer): void {
    this.sinceCheckpoint++;
    if (!isVersion1(value)) {
      this.pending.push(value);
      if (this.pending.length > MAX_PENDING) this.collapse();
      return;
    }
    if (value.length < BODY_OFFSET) throw new MalformedRecordError('ledger record', 'version-1 record shorter than its header');
    this.lastLinked = value;
    if (this.pending.length > 0) this.pending = [];
    if (value[1] === RecordKind.checkpoint) {
      this.sinceCheckpoint = 0;
      this.lastCheckpointAt = decodeCheckpointBody(value).at;
    }
  }

  /** The owner wrote up to here: its own position replaces what was followed. */
  moveTo(position: ChainPosition): void {
    this.anchor = position.head;
    this.lastLinked = undefined;
    this.pending = [];
    this.sinceCheckpoint = position.sinceCheckpoint;
    this.lastCheckpointAt = position.lastCheckpointAt;
  }

  position(): ChainPosition {
    this.collapse();
    return { head: this.anchor, sinceCheckpoint: this.sinceCheckpoint, lastCheckpointAt: this.lastCheckpointAt };
  }

  private collapse(): void {
    let head = this.lastLinked ? chainHash(this.lastLinked.subarray(2, BODY_OFFSET), this.lastLinked) : this.anchor;
    for (const value of this.pending) head = chainHash(head, value);
    this.anchor = head;
    this.lastLinked = undefined;
    this.pending = [];
  }
}
