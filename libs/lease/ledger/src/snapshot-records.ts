import { createHash } from 'node:crypto';
import type { PartitionedMessage, ReceivedMessage } from '@license-ledger/platform-kafka';

/**
 * How a partition snapshot travels on the snapshot topic: its body (snapshot-codec.ts) cut into
 * chunks below Kafka's default max.message.bytes (1 MB; a record batch of a produce request counts
 * whole, so each chunk is sent alone), then a small manifest, all in one transaction. The manifest
 * is what makes it self-checking: format and version, which ledger and partition it belongs to, the
 * events offset it covers, and the body's length and SHA-256. Chunking rather than raising the
 * topic's max.message.bytes keeps every broker, replica fetcher and consumer on their defaults.
 *
 * Keys: the manifest `<partition>`, chunk i `<partition>.<i>`, so compaction keeps the latest
 * manifest and the chunks it names (written with it, hence after any older chunk of that index).
 */
export const SNAPSHOT_FORMAT = 'license-ledger.partition-snapshot';
export const SNAPSHOT_MANIFEST_VERSION = 1;
/** Below the 1,048,588-byte default max.message.bytes with room for the record's own overhead. */
export const SNAPSHOT_CHUNK_BYTES = 900 * 1024;
export const MANIFEST_TYPE = 'SnapshotManifest';
export const CHUNK_TYPE = 'SnapshotChunk';

export interface SnapshotManifest {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: number;
  /** The ledger it was folded from: a snapshot topic shared by mistake cannot feed another ledger. */
  readonly eventsTopic: string;
  readonly partition: number;
  /** Every record below this offset of the events partition is in the snapshot; folding goes on here. */
  readonly coveredOffset: string;
  readonly takenAtMs: number;
  readonly bodyBytes: number;
  readonly sha256: string;
  /** Where the chunks are in the snapshot topic's partition, in order. */
  readonly chunkOffsets: readonly string[];
}

export const manifestKey = (partition: number): string => String(partition);
export const chunkKey = (partition: number, index: number): string => `${partition}.${index}`;

export function sha256Hex(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The body's chunk records, each to be sent on its own. */
export function chunkMessages(partition: number, body: Buffer): PartitionedMessage[] {
  const messages: PartitionedMessage[] = [];
  for (let start = 0, index = 0; start < body.length || index === 0; start += SNAPSHOT_CHUNK_BYTES, index++) {
    messages.push({ key: chunkKey(partition, index), partition, value: body.subarray(start, start + SNAPSHOT_CHUNK_BYTES), headers: { type: CHUNK_TYPE } });
  }
  return messages;
}

export function manifestMessage(manifest: SnapshotManifest): PartitionedMessage {
  return { key: manifestKey(manifest.partition), partition: manifest.partition, value: Buffer.from(JSON.stringify(manifest), 'utf8'), headers: { type: MANIFEST_TYPE } };
}

/** Why a snapshot cannot be used; the caller folds the whole partition instead. */
export class UnusableSnapshotError extends Error {
  override readonly name = 'UnusableSnapshotError';
}

/** A manifest as written by this version, or UnusableSnapshotError saying what is wrong with it. */
export function parseManifest(message: ReceivedMessage): SnapshotManifest {
  let json: unknown;
  try {
    json = JSON.parse(message.value.toString('utf8'));
  } catch {
    throw new UnusableSnapshotError(`manifest at offset ${message.offset} is not JSON`);
  }
  if (typeof json !== 'object' || json === null) throw new UnusableSnapshotError(`manifest at offset ${message.offset} is not an object`);
  const m = json as Record<string, unknown>;
  if (m['format'] !== SNAPSHOT_FORMAT) throw new UnusableSnapshotError(`manifest at offset ${message.offset} is not a ${SNAPSHOT_FORMAT}`);
  if (m['version'] !== SNAPSHOT_MANIFEST_VERSION) throw new UnusableSnapshotError(`manifest version ${String(m['version'])} is not ${SNAPSHOT_MANIFEST_VERSION}`);
  const offsets = m['chunkOffsets'];
  const valid =
    typeof m['eventsTopic'] === 'string' &&
    Number.isSafeInteger(m['partition']) &&
    isOffset(m['coveredOffset']) &&
    Number.isSafeInteger(m['takenAtMs']) &&
    Number.isSafeInteger(m['bodyBytes']) &&
    typeof m['sha256'] === 'string' &&
    /^[0-9a-f]{64}$/.test(m['sha256']) &&
    Array.isArray(offsets) &&
    offsets.length > 0 &&
    offsets.every(isOffset);
  if (!valid) throw new UnusableSnapshotError(`manifest at offset ${message.offset} lacks a field or has a bad one`);
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_MANIFEST_VERSION,
    eventsTopic: m['eventsTopic'] as string,
    partition: m['partition'] as number,
    coveredOffset: m['coveredOffset'] as string,
    takenAtMs: m['takenAtMs'] as number,
    bodyBytes: m['bodyBytes'] as number,
    sha256: m['sha256'] as string,
    chunkOffsets: offsets as string[],
  };
}

function isOffset(value: unknown): value is string {
  return typeof value === 'string' && /^\d{1,19}$/.test(value);
}

/**
 * The body the manifest describes, from the records read between its first chunk and itself:
 * every chunk present, the length and the SHA-256 as written. Throws UnusableSnapshotError otherwise.
 */
export function assembleBody(manifest: SnapshotManifest, records: ReadonlyMap<string, Buffer>): Buffer {
  const chunks = manifest.chunkOffsets.map((offset) => {
    const chunk = records.get(offset);
    if (!chunk) throw new UnusableSnapshotError(`chunk at offset ${offset} is missing`);
    return chunk;
  });
  const body = Buffer.concat(chunks);
  if (body.length !== manifest.bodyBytes) throw new UnusableSnapshotError(`body is ${body.length} bytes, the manifest says ${manifest.bodyBytes}`);
  if (sha256Hex(body) !== manifest.sha256) throw new UnusableSnapshotError('body fails its SHA-256 check');
  return body;
}
