/**
 * The project's own view of a message broker. Services and domain code speak only this; the
 * kafkajs implementation sits behind it so the client library can be replaced.
 */
export interface OutgoingMessage {
  /** Partitioning key: every message of one key lands on one partition, in order. */
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are int64; kept as a decimal string so none is ever rounded. */
  readonly offset: string;
  readonly timestampMs: number;
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** A message for an explicit partition (the writer owns that partition) or, without one, by key. */
export interface PartitionedMessage extends OutgoingMessage {
  readonly partition?: number;
  /**
   * Sent with no value (`value` is ignored): on a compacted topic the key is then forgotten. A
   * reader receives it as an empty value.
   */
  readonly tombstone?: boolean;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Where a send landed: its messages for one partition occupy offsets baseOffset, baseOffset+1, ... */
export interface WrittenBatch extends TopicPartition {
  readonly baseOffset: string;
}

export interface ConsumedOffset extends TopicPartition {
  /** The next offset to consume (last processed + 1), as Kafka commits it. */
  readonly offset: string;
}

export interface TopicMessages {
  readonly topic: string;
  readonly messages: readonly PartitionedMessage[];
}

export interface Transaction {
  send(topic: string, messages: readonly PartitionedMessage[]): Promise<readonly WrittenBatch[]>;
  /** Messages for several topics in one produce request (one round trip instead of one per topic). */
  sendAll(batches: readonly TopicMessages[]): Promise<readonly WrittenBatch[]>;
  /** Commits a consumer group's offsets atomically with the transaction's messages. */
  commitConsumerOffsets(groupId: string, offsets: readonly ConsumedOffset[]): Promise<void>;
}

export interface TransactionalPublisher {
  /**
   * Runs `work` in one Kafka transaction: committed when it resolves, aborted when it throws.
   * Read-committed consumers see all of it or none of it.
   */
  inTransaction<T>(work: (transaction: Transaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A newer producer with the same transactional id has taken over: this one may never write again. */
export class ProducerFencedError extends Error {
  constructor(readonly transactionalId: string, cause: unknown) {
    super(`producer ${transactionalId} was fenced by a newer instance`, { cause });
    this.name = 'ProducerFencedError';
  }
}

/**
 * A transaction failed and could not be aborted: whether its messages will be committed is not
 * known. The producer must not be used again; a new one with the same transactional id fences it,
 * which makes the coordinator settle the transaction one way or the other.
 */
export class TransactionOutcomeUnknownError extends Error {
  constructor(readonly transactionalId: string, cause: unknown, readonly abortError: unknown) {
    super(`transaction of ${transactionalId} failed and could not be aborted; its outcome is unknown`, { cause });
    this.name = 'TransactionOutcomeUnknownError';
  }
}

export interface MessagePublisher {
  /** Resolves once the broker has acknowledged every message (acks from all in-sync replicas). */
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
}

/** What every reader (a group subscription or an assignment) is given. */
export interface ReaderOptions {
  /**
   * Called with messages of one partition, in offset order. A subscription whose `commit` is
   * 'after-handler' commits offsets only after it resolves, so a crash re-delivers rather than loses
   * (handlers must be idempotent: a failed call is retried, and with `deadLetter` parts of the batch
   * are called again).
   */
  readonly onMessages: (messages: readonly ReceivedMessage[], batch: BatchContext) => Promise<void>;
  /**
   * When onMessages throws, transient failures (database or broker unreachable, deadlocks) are
   * retried with backoff until they pass, whatever this says. Without `deadLetter` every other
   * failure is retried the same way: for readers whose state would be wrong past a skipped record.
   * With it, a record that still fails alone after `attempts` tries (the batch is split to find it),
   * or that the handler reports through `BatchContext.deadLetter`, is copied to `deadLetter.topic`
   * and skipped, so one bad record cannot hold up its partition.
   */
  readonly deadLetter?: DeadLetterPolicy;
  /** Longest wait for new messages in one fetch; lower means faster stop and lower latency. */
  readonly maxWaitMs?: number;
  /**
   * A fetch waits (up to maxWaitMs) until this many bytes are there. Default 1: answer at once.
   * Readers that need no low latency set more, so a busy topic costs a few fetches a second
   * instead of one per record written.
   */
  readonly minBytes?: number;
  /**
   * Most bytes one fetch takes from one partition (default 1 MiB), and from all together (default
   * 10 MiB): bigger batches for handlers whose cost is mostly per batch.
   */
  readonly maxBytesPerPartition?: number;
  readonly maxBytes?: number;
  /** Called whenever the reader's state changes (readiness; a `failed` reader must be started anew). */
  readonly onState?: (state: ReaderState) => void;
  /** Aborting it gives up a subscribe() or assign() still waiting for its first assignment. */
  readonly signal?: AbortSignal;
}

export interface SubscribeOptions extends ReaderOptions {
  /** Consumers sharing a group id share the partitions; each partition has one owner at a time. */
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group with no committed offset starts. */
  readonly fromBeginning: boolean;
  /**
   * 'after-handler' (default): the bus commits offsets once onMessages resolves. 'none': never;
   * for consumers that commit inside a transaction or that always start from the beginning.
   */
  readonly commit?: 'after-handler' | 'none';
  /** Called after every rebalance with this member's partitions: all it had before are revoked. */
  readonly onAssignment?: (assigned: readonly TopicPartition[]) => void;
  /** How many partitions' batches may be handled at once (each partition stays in order). */
  readonly partitionsInParallel?: number;
}

/** Where an assignment starts reading a partition: an offset, or `end` (the next record committed). */
export interface PartitionStart {
  readonly partition: number;
  readonly from: string | 'end';
}

/**
 * A reader of chosen partitions for this instance alone, like the Java client's assign(): no group
 * shares them, nothing is committed, and it reads on from where it was after any reconnection.
 */
export interface AssignOptions extends ReaderOptions {
  /** Names the reader in logs and dead letters, where a group id would. */
  readonly name: string;
  readonly topic: string;
  readonly partitions: readonly PartitionStart[];
}

/** What a reader is doing, from its client's own events (no request). */
export type ReaderState =
  /** Connecting or joining; it holds no partitions yet. */
  | { readonly kind: 'joining' }
  /** It holds its partitions and fetches. */
  | { readonly kind: 'reading' }
  /** Its client failed (e.g. the broker went away) and is starting itself again. */
  | { readonly kind: 'restarting'; readonly error: unknown }
  /** Its client failed for good: it reads nothing until it is started anew. */
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'stopped' };

export interface DeadLetterPolicy {
  /** Where skipped records go: Topics.deadLetters in services, a topic of their own in tests. */
  readonly topic: string;
  /** Tries of a record that fails alone before it is dead-lettered (default 3). */
  readonly attempts?: number;
}

export interface BatchContext extends TopicPartition {
  /** False once a rebalance has taken this partition away; stop working on the batch then. */
  isCurrent(): boolean;
  /**
   * Reports a record this handler will never be able to process (e.g. it fails validation): once
   * the call resolves it is dead-lettered and skipped. Throws unless the subscription has `deadLetter`.
   */
  deadLetter(message: ReceivedMessage, reason: string): void;
}

export interface Subscription {
  /** Moves this member's position in a partition it is assigned (e.g. back to 0 to re-read). */
  seek(topic: string, partition: number, offset: string): void;
  /** What the reader is doing now. */
  state(): ReaderState;
  /** Resolves when the broker coordinating this reader answers it (one request); throws otherwise. */
  probe(): Promise<void>;
  /** Leaves the group once the batches being handled are done. */
  stop(): Promise<void>;
}

/** One partition's records at offsets [start, end): `end` is where the next committed record goes. */
export interface PartitionRange {
  readonly partition: number;
  readonly start: string;
  readonly end: string;
}

export interface ReadRangesOptions {
  readonly topic: string;
  readonly ranges: readonly PartitionRange[];
  /** Committed messages of one partition, in offset order, only those inside its range. */
  readonly onMessages: (messages: readonly ReceivedMessage[]) => Promise<void> | void;
  /**
   * After every fetch: the partition's next offset to read. It moves past transaction markers and
   * aborted records too, which onMessages never sees (progress bars, "how far am I").
   */
  readonly onPosition?: (partition: number, nextOffset: string) => void;
  /** Aborting it ends the read at once, rejecting. */
  readonly signal?: AbortSignal;
}

export interface MessageBus extends MessagePublisher {
  connect(): Promise<void>;
  /** Resolves once this member has joined its group and holds its first assignment. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Resolves once the reader holds its partitions. */
  assign(options: AssignOptions): Promise<Subscription>;
  /** The partition a message with this key lands on when sent without one (the producers' partitioner). */
  partitionOf(topic: string, key: string): Promise<number>;
  /**
   * A producer whose writes are transactions. Creating it fences (and aborts the open transaction
   * of) any older producer with the same id, so one id per owned partition gives one writer.
   */
  transactionalPublisher(transactionalId: string): Promise<TransactionalPublisher>;
  /**
   * Every partition of `topic` with `end` = its end offset (last stable offset: open transactions
   * are not included) and `start` = its earliest retained offset or, with `sinceMs`, the first
   * offset whose record timestamp is at or after that time (`end` when there is none).
   */
  partitionRanges(topic: string, sinceMs?: number): Promise<PartitionRange[]>;
  /**
   * Reads the given ranges once, read-committed, and resolves when every partition has reached its
   * `end`. Keeps no consumer group offsets: for replays and tools, not for services.
   */
  readRanges(options: ReadRangesOptions): Promise<void>;
  /** Throws when the cluster cannot be reached; used by readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
