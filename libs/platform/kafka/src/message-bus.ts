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

export interface MessagePublisher {
  /** Resolves once the broker has acknowledged every message (acks from all in-sync replicas). */
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
}

export interface SubscribeOptions {
  /** Consumers sharing a group id share the partitions; each partition has one owner at a time. */
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group with no committed offset starts. */
  readonly fromBeginning: boolean;
  /**
   * Called with messages of one partition, in offset order. Offsets are committed only after it
   * resolves, so a crash re-delivers rather than loses (handlers must be idempotent).
   */
  readonly onMessages: (messages: readonly ReceivedMessage[]) => Promise<void>;
}

export interface Subscription {
  stop(): Promise<void>;
}

export interface MessageBus extends MessagePublisher {
  connect(): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Throws when the cluster cannot be reached; used by readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
