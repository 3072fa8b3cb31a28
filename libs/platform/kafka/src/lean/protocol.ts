/**
 * The three requests the lean reader sends, encoded and decoded from the Kafka protocol guide:
 * ApiVersions v0, Metadata v1-v8 and Fetch v11 (the newest non-flexible versions, so no tagged
 * fields; a broker that supports none of them is refused with LeanReadUnsupportedError).
 */
import { WireReader, WireWriter } from './wire';

export const ApiKey = { fetch: 1, metadata: 3, apiVersions: 18 } as const;

/** The reader cannot do this read (a codec, a broker version): the caller reads on with another client. */
export class LeanReadUnsupportedError extends Error {
  override readonly name = 'LeanReadUnsupportedError';
}

/** A broker's answer with an error code (codes and names from the protocol guide). */
export class KafkaProtocolError extends Error {
  override readonly name = 'KafkaProtocolError';
  constructor(
    readonly code: number,
    context: string,
  ) {
    super(`${context}: ${ERROR_NAMES.get(code) ?? 'error'} (${code})`);
  }
}

export const ErrorCode = {
  none: 0,
  offsetOutOfRange: 1,
  unknownTopicOrPartition: 3,
  leaderNotAvailable: 5,
  notLeaderOrFollower: 6,
  requestTimedOut: 7,
  replicaNotAvailable: 9,
  notEnoughReplicas: 19,
  kafkaStorageError: 56,
  fencedLeaderEpoch: 74,
  unknownLeaderEpoch: 75,
  offsetNotAvailable: 78,
} as const;

const ERROR_NAMES = new Map<number, string>([
  [1, 'OFFSET_OUT_OF_RANGE'],
  [3, 'UNKNOWN_TOPIC_OR_PARTITION'],
  [5, 'LEADER_NOT_AVAILABLE'],
  [6, 'NOT_LEADER_OR_FOLLOWER'],
  [7, 'REQUEST_TIMED_OUT'],
  [9, 'REPLICA_NOT_AVAILABLE'],
  [29, 'TOPIC_AUTHORIZATION_FAILED'],
  [35, 'UNSUPPORTED_VERSION'],
  [56, 'KAFKA_STORAGE_ERROR'],
  [74, 'FENCED_LEADER_EPOCH'],
  [75, 'UNKNOWN_LEADER_EPOCH'],
  [78, 'OFFSET_NOT_AVAILABLE'],
]);

/** Answers meaning "ask the (new) leader again after a metadata refresh". */
export const RETRIABLE_PARTITION_ERRORS: ReadonlySet<number> = new Set([
  ErrorCode.unknownTopicOrPartition,
  ErrorCode.leaderNotAvailable,
  ErrorCode.notLeaderOrFollower,
  ErrorCode.requestTimedOut,
  ErrorCode.replicaNotAvailable,
  ErrorCode.notEnoughReplicas,
  ErrorCode.kafkaStorageError,
  ErrorCode.fencedLeaderEpoch,
  ErrorCode.unknownLeaderEpoch,
  ErrorCode.offsetNotAvailable,
]);

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export function encodeApiVersionsRequest(): Buffer {
  return Buffer.alloc(0);
}

export function decodeApiVersionsResponse(body: Buffer): Map<number, VersionRange> {
  const reader = new WireReader(body);
  const errorCode = reader.int16();
  if (errorCode !== ErrorCode.none) throw new KafkaProtocolError(errorCode, 'ApiVersions');
  const ranges = new Map<number, VersionRange>();
  reader.array((r) => ranges.set(r.int16(), { min: r.int16(), max: r.int16() }));
  return ranges;
}

/** The newest of `wanted` (newest first) the broker supports. */
export function pickVersion(ranges: ReadonlyMap<number, VersionRange>, apiKey: number, wanted: readonly number[], name: string): number {
  const range = ranges.get(apiKey);
  const version = wanted.find((v) => range !== undefined && v >= range.min && v <= range.max);
  if (version === undefined) throw new LeanReadUnsupportedError(`the broker supports ${name} ${range ? `v${range.min}-v${range.max}` : 'in no version'}, the lean reader v${wanted.join('/v')}`);
  return version;
}

export const METADATA_VERSIONS = [8, 7, 6, 5, 4, 3, 2, 1];
export const FETCH_VERSIONS = [11];

export function encodeMetadataRequest(version: number, topic: string): Buffer {
  const writer = new WireWriter().array([topic], (name, w) => w.string(name));
  if (version >= 4) writer.int8(0); // allow_auto_topic_creation: a read never creates a topic
  if (version >= 8) writer.int8(0).int8(0); // no authorized operations wanted
  return writer.bytes();
}

export interface PartitionLeader {
  readonly partition: number;
  readonly errorCode: number;
  /** -1 while none is elected. */
  readonly leader: number;
}

export interface TopicMetadata {
  readonly brokers: ReadonlyMap<number, { readonly host: string; readonly port: number }>;
  readonly topicError: number;
  readonly partitions: readonly PartitionLeader[];
}

export function decodeMetadataResponse(version: number, body: Buffer, topic: string): TopicMetadata {
  const reader = new WireReader(body);
  if (version >= 3) reader.int32(); // throttle_time_ms
  const brokers = new Map<number, { host: string; port: number }>();
  reader.array((r) => {
    const id = r.int32();
    const host = r.requiredString();
    const port = r.int32();
    r.string(); // rack
    brokers.set(id, { host, port });
  });
  if (version >= 2) reader.string(); // cluster_id
  reader.int32(); // controller_id
  let topicError: number = ErrorCode.unknownTopicOrPartition;
  let partitions: PartitionLeader[] = [];
  reader.array((r) => {
    const errorCode = r.int16();
    const name = r.string();
    r.boolean(); // is_internal
    const read = r.array((p) => {
      const partitionError = p.int16();
      const partition = p.int32();
      const leader = p.int32();
      if (version >= 7) p.int32(); // leader_epoch
      p.array((n) => n.int32()); // replicas
      p.array((n) => n.int32()); // in-sync replicas
      if (version >= 5) p.array((n) => n.int32()); // offline replicas
      return { partition, errorCode: partitionError, leader };
    });
    if (version >= 8) r.int32(); // topic_authorized_operations
    if (name === topic) {
      topicError = errorCode;
      partitions = read;
    }
  });
  return { brokers, topicError, partitions };
}

export interface FetchPartitionRequest {
  readonly partition: number;
  readonly offset: number;
}

export interface FetchSizes {
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly partitionMaxBytes: number;
}

const READ_COMMITTED = 1;

export function encodeFetchRequest(topic: string, partitions: readonly FetchPartitionRequest[], sizes: FetchSizes): Buffer {
  return new WireWriter()
    .int32(-1) // replica_id: a consumer
    .int32(sizes.maxWaitMs)
    .int32(1) // min_bytes: answer as soon as anything is there
    .int32(sizes.maxBytes)
    .int8(READ_COMMITTED)
    .int32(0) // session_id: no fetch session
    .int32(-1) // session_epoch: full fetch requests only
    .array([topic], (name, w) => {
      w.string(name).array(partitions, ({ partition, offset }) => {
        w.int32(partition)
          .int32(-1) // current_leader_epoch: not checked
          .int64(offset)
          .int64(-1) // log_start_offset: only followers send it
          .int32(sizes.partitionMaxBytes);
      });
    })
    .int32(0) // forgotten_topics_data
    .string('') // rack_id
    .bytes();
}

export interface AbortedTransaction {
  readonly producerId: number;
  readonly firstOffset: number;
}

export interface FetchedPartition {
  readonly partition: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  /** Sorted by first offset, as the read-committed filter walks them. */
  readonly abortedTransactions: readonly AbortedTransaction[];
  /** Record batches as a view of the answer; the last one may be cut short. */
  readonly records: Buffer | null;
}

export function decodeFetchResponse(body: Buffer, topic: string): FetchedPartition[] {
  const reader = new WireReader(body);
  reader.int32(); // throttle_time_ms
  const errorCode = reader.int16();
  if (errorCode !== ErrorCode.none) throw new KafkaProtocolError(errorCode, `Fetch of ${topic}`);
  reader.int32(); // session_id
  const fetched: FetchedPartition[] = [];
  reader.array((r) => {
    const name = r.requiredString();
    r.array((p) => {
      const partition = p.int32();
      const partitionError = p.int16();
      const highWatermark = p.int64();
      const lastStableOffset = p.int64();
      p.int64(); // log_start_offset
      const abortedTransactions = p.array((a) => ({ producerId: a.int64(), firstOffset: a.int64() }));
      p.int32(); // preferred_read_replica
      const records = p.bytes();
      if (name === topic) {
        abortedTransactions.sort((x, y) => x.firstOffset - y.firstOffset);
        fetched.push({ partition, errorCode: partitionError, highWatermark, lastStableOffset, abortedTransactions, records });
      }
    });
  });
  return fetched;
}
