import type { MessageBus, PartitionedMessage, ReceivedMessage, Transaction } from '@license-ledger/platform-kafka';
import { PartitionLedger } from './partition-ledger';
import { decodeSnapshotBody, encodeSnapshotBody } from './snapshot-codec';
import {
  assembleBody,
  chunkKey,
  chunkMessages,
  MANIFEST_TYPE,
  manifestMessage,
  parseManifest,
  sha256Hex,
  SNAPSHOT_FORMAT,
  SNAPSHOT_MANIFEST_VERSION,
  SnapshotManifest,
  UnusableSnapshotError,
} from './snapshot-records';

/** A manifest as found at the end of a snapshot partition, or why none can be used. */
export type ManifestLookup =
  | { readonly kind: 'none' }
  | { readonly kind: 'found'; readonly manifest: SnapshotManifest; readonly offset: string }
  | { readonly kind: 'unusable'; readonly offset: string; readonly reason: string };

/** What loading a partition's latest snapshot came to. */
export type SnapshotLoad =
  | { readonly kind: 'none' }
  /** Not newer than the state the caller has: nothing was read but the manifest. */
  | { readonly kind: 'not-newer'; readonly manifest: SnapshotManifest }
  | { readonly kind: 'loaded'; readonly manifest: SnapshotManifest; readonly ledger: PartitionLedger }
  | { readonly kind: 'unusable'; readonly offset: string; readonly reason: string };

/** A snapshot encoded while the state was exactly the log up to the offset it will cover. */
export interface PreparedSnapshot {
  readonly partition: number;
  readonly body: Buffer;
  readonly takenAtMs: number;
}

/** The first window read back from a partition's end: the latest manifest, chunk tombstones, a marker. */
const FIRST_WINDOW = 64n;

/**
 * Reads and writes partition snapshots on the snapshot topic (format: snapshot-records.ts). The
 * latest snapshot of a partition is its last manifest: found by reading backwards from the
 * partition's end in growing windows (never the whole history, which compaction may not have
 * cleaned yet), then only the chunks it names are read.
 */
export class SnapshotStore {
  constructor(
    private readonly bus: MessageBus,
    readonly snapshotsTopic: string,
    readonly eventsTopic: string,
  ) {}

  /** The latest manifest of each of `partitions` (no chunks read), checked against this ledger. */
  async latestManifests(partitions: readonly number[]): Promise<Map<number, ManifestLookup>> {
    const ends = new Map((await this.bus.partitionRanges(this.snapshotsTopic)).map((r) => [r.partition, r]));
    const eventEnds = new Map((await this.bus.partitionRanges(this.eventsTopic)).map((r) => [r.partition, BigInt(r.end)]));
    const result = new Map<number, ManifestLookup>();
    const windows = new Map<number, { start: bigint; lo: bigint; hi: bigint; size: bigint }>();
    for (const partition of partitions) {
      const range = ends.get(partition);
      const [start, end] = range ? [BigInt(range.start), BigInt(range.end)] : [0n, 0n];
      if (end <= start) result.set(partition, { kind: 'none' });
      else windows.set(partition, { start, lo: end - FIRST_WINDOW > start ? end - FIRST_WINDOW : start, hi: end, size: FIRST_WINDOW });
    }
    while (windows.size > 0) {
      const found = new Map<number, ReceivedMessage>();
      await this.bus.readRanges({
        topic: this.snapshotsTopic,
        ranges: [...windows].map(([partition, w]) => ({ partition, start: String(w.lo), end: String(w.hi) })),
        onMessages: (messages) => {
          for (const message of messages) if (message.headers['type'] === MANIFEST_TYPE) found.set(message.partition, message);
        },
      });
      for (const [partition, w] of [...windows]) {
        const message = found.get(partition);
        if (message) {
          result.set(partition, this.check(partition, message, eventEnds.get(partition) ?? 0n));
          windows.delete(partition);
        } else if (w.lo <= w.start) {
          result.set(partition, { kind: 'none' });
          windows.delete(partition);
        } else {
          const size = w.size * 8n;
          windows.set(partition, { start: w.start, hi: w.lo, lo: w.lo - size > w.start ? w.lo - size : w.start, size });
        }
      }
    }
    return result;
  }

  /**
   * Loads the latest snapshot of each partition whose snapshot covers more than `have(partition)`
   * (the offset the caller's state of it has reached): read, checked and restored to a ledger.
   */
  async load(partitions: readonly number[], have: (partition: number) => bigint = () => 0n): Promise<Map<number, SnapshotLoad>> {
    const manifests = await this.latestManifests(partitions);
    const result = new Map<number, SnapshotLoad>();
    const wanted = new Map<number, { manifest: SnapshotManifest; offset: string }>();
    for (const [partition, lookup] of manifests) {
      if (lookup.kind !== 'found') result.set(partition, lookup);
      else if (BigInt(lookup.manifest.coveredOffset) <= have(partition)) result.set(partition, { kind: 'not-newer', manifest: lookup.manifest });
      else wanted.set(partition, lookup);
    }
    if (wanted.size === 0) return result;
    const chunks = new Map<number, Map<string, Buffer>>();
    await this.bus.readRanges({
      topic: this.snapshotsTopic,
      ranges: [...wanted].map(([partition, { manifest, offset }]) => ({ partition, start: minOffset(manifest.chunkOffsets), end: offset })),
      onMessages: (messages) => {
        for (const message of messages) {
          let records = chunks.get(message.partition);
          if (!records) chunks.set(message.partition, (records = new Map()));
          records.set(message.offset, message.value);
        }
      },
    });
    for (const [partition, { manifest, offset }] of wanted) {
      try {
        const body = assembleBody(manifest, chunks.get(partition) ?? new Map());
        const state = decodeSnapshotBody(body);
        if (state.partition !== partition) throw new UnusableSnapshotError(`body is of partition ${state.partition}`);
        // The body was encoded before the offset it covers was known (snapshot-writer.ts).
        result.set(partition, { kind: 'loaded', manifest, ledger: PartitionLedger.restore({ ...state, nextOffset: BigInt(manifest.coveredOffset) }) });
      } catch (error) {
        result.set(partition, { kind: 'unusable', offset, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    return result;
  }

  /**
   * Writes `prepared` in `tx` as covering the events below `coveredOffset`: its chunks one request
   * each (a request's records for a partition form one batch, limited like one record), tombstones
   * for chunk keys an older, longer snapshot left, then the manifest.
   */
  async write(tx: Transaction, prepared: PreparedSnapshot, coveredOffset: bigint, previousChunks: number): Promise<SnapshotManifest> {
    const { partition, body } = prepared;
    const chunkOffsets: string[] = [];
    const chunks = chunkMessages(partition, body);
    for (const chunk of chunks) {
      const [written] = await tx.send(this.snapshotsTopic, [chunk]);
      if (!written) throw new Error(`snapshot chunk of partition ${partition}: no offset returned`);
      chunkOffsets.push(written.baseOffset);
    }
    const stale: PartitionedMessage[] = [];
    for (let index = chunks.length; index < previousChunks; index++) stale.push({ key: chunkKey(partition, index), partition, value: Buffer.alloc(0), tombstone: true });
    if (stale.length > 0) await tx.send(this.snapshotsTopic, stale);
    const manifest: SnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_MANIFEST_VERSION,
      eventsTopic: this.eventsTopic,
      partition,
      coveredOffset: coveredOffset.toString(),
      takenAtMs: prepared.takenAtMs,
      bodyBytes: body.length,
      sha256: sha256Hex(body),
      chunkOffsets,
    };
    await tx.send(this.snapshotsTopic, [manifestMessage(manifest)]);
    return manifest;
  }

  private check(partition: number, message: ReceivedMessage, eventsEnd: bigint): ManifestLookup {
    const unusable = (reason: string): ManifestLookup => ({ kind: 'unusable', offset: message.offset, reason });
    let manifest: SnapshotManifest;
    try {
      manifest = parseManifest(message);
    } catch (error) {
      return unusable(error instanceof Error ? error.message : String(error));
    }
    if (manifest.eventsTopic !== this.eventsTopic) return unusable(`it is a snapshot of ${manifest.eventsTopic}, not ${this.eventsTopic}`);
    if (manifest.partition !== partition) return unusable(`it is a snapshot of partition ${manifest.partition}`);
    // Past the end of the log: the events topic was recreated since; the snapshot describes another log.
    if (BigInt(manifest.coveredOffset) > eventsEnd) return unusable(`it covers offset ${manifest.coveredOffset}, past the end of the log (${eventsEnd})`);
    if (manifest.chunkOffsets.some((offset) => BigInt(offset) >= BigInt(message.offset))) return unusable('it names chunks after itself');
    return { kind: 'found', manifest, offset: message.offset };
  }
}

/** Encodes the ledger's state now: call it while that state is exactly the log up to what it will cover. */
export function prepareSnapshot(ledger: PartitionLedger, nowMs: number): PreparedSnapshot {
  return { partition: ledger.partition, body: encodeSnapshotBody(ledger.exportState()), takenAtMs: nowMs };
}

function minOffset(offsets: readonly string[]): string {
  return offsets.reduce((min, offset) => (BigInt(offset) < BigInt(min) ? offset : min));
}
