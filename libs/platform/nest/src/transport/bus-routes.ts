import type { DeadLetterPolicy, Topics } from '@license-ledger/platform-kafka';

/**
 * An `@EventPattern` of the bus transport: the logical name of a topic, as a key of `Topics`
 * ('telemetry', 'leaseEvents', ...). Which topic on the cluster it reads, and how, is the route the
 * service gives for it (names come from configuration, so tests and several ledgers can share a cluster).
 */
export type TopicKey = keyof typeof Topics;

/** `@EventPattern` extras: the handler takes a partition's batch (`ReceivedMessage[]`) rather than one message. */
export const BATCH = { batch: true } as const;

/** Fetch tuning, as in the bus's ReaderOptions. */
interface FetchTuning {
  readonly maxWaitMs?: number;
  readonly minBytes?: number;
  readonly maxBytesPerPartition?: number;
  readonly maxBytes?: number;
}

interface RouteBase extends FetchTuning {
  /** The topic's name on the cluster. */
  readonly topic: string;
  /** The name of this reader in /health/ready. */
  readonly readiness: string;
}

/** A consumer group shared by the service's replicas: each partition is handled by one of them. */
export interface SharedRoute extends RouteBase {
  readonly kind: 'shared';
  readonly groupId: string;
  readonly fromBeginning: boolean;
  /** Default 'after-handler': offsets are committed once a batch is handled. */
  readonly commit?: 'after-handler' | 'none';
  readonly partitionsInParallel?: number;
  /** Records that cannot be handled are copied here and skipped; without it they are retried for ever. */
  readonly deadLetter?: DeadLetterPolicy;
}

/**
 * A read model this instance rebuilds from the whole topic at every start: it is `loading` (not
 * ready) until it has read up to the end the topic had at start, then follows the topic through a
 * group of its own. It never skips a record: a failing one is retried until it passes.
 */
export interface CatchUpRoute extends RouteBase {
  readonly kind: 'catch-up';
  /** This instance's own group (it never commits). */
  readonly groupId: string;
}

/**
 * The one partition a key lands on, read by this instance alone from the end it had at start (no
 * consumer group shares it): replies addressed to this instance by its id.
 */
export interface KeyPartitionRoute extends RouteBase {
  readonly kind: 'key-partition';
  readonly key: string;
  /** Names the reader in logs and dead letters. */
  readonly name: string;
  readonly deadLetter?: DeadLetterPolicy;
}

export type BusRoute = SharedRoute | CatchUpRoute | KeyPartitionRoute;

/** What a service reads: one route per pattern its `@EventPattern` handlers use. */
export type BusRoutes = Partial<Record<TopicKey, BusRoute>>;

/**
 * A Kafka engine with a lifecycle of its own (the lease processor, with its transactions and
 * partition ownership) that the transport starts, retries, probes and stops with its readers.
 */
export interface BusEngine {
  /** Its name in /health/ready and in logs. */
  readonly name: string;
  /** Rejects when it could not start; it must then be startable again (the transport retries). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** After start: resolves while it can work, throws (NotReady for a known state) otherwise. */
  check?(): Promise<void>;
}
