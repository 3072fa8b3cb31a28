/**
 * The one place where the project's Kafka topics are defined. The local broker script, the
 * docker-compose init and the services all create or check topics from this list.
 */

/**
 * How much a topic's settings matter, which decides whether a deviation stops the services:
 * - `ledger`: the event log, the only source of truth, kept forever. Anything that could lose or
 *   reorder its records refuses start.
 * - `ledger-routing`: written by key to the ledger partition of the same number (commands), so its
 *   partition count must be the ledger's; other deviations only warn.
 * - `ledger-state`: compacted topics the lease service derives from the ledger and keeps in step
 *   with it (snapshots of each partition's state, the live key bindings): the partition count must
 *   be the ledger's and the cleanup policy `compact`, or services would read a wrong or lost state.
 * - `working`: replies, telemetry, dead letters; deviations warn.
 */
export type TopicRole = 'ledger' | 'ledger-routing' | 'ledger-state' | 'working';

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Broker-side topic configs (string values, as Kafka takes them). */
  readonly config: Readonly<Record<string, string>>;
  /** Copies of each partition. Omitted: the cluster's default.replication.factor (scratch and test topics). */
  readonly replicationFactor?: number;
  /** Omitted: `working`. */
  readonly role?: TopicRole;
}

const KEEP_FOREVER = { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' } as const;
const KEEP_A_WEEK = { 'retention.ms': String(7 * 24 * 3600 * 1000) } as const;
const KEEP_FOUR_WEEKS = { 'retention.ms': String(28 * 24 * 3600 * 1000) } as const;
/**
 * The latest record of each key, kept for ever. Segments roll hourly so superseded records become
 * cleanable soon (a compacted topic never cleans its active segment), and tombstones stay a day
 * for readers that are behind.
 */
const LATEST_PER_KEY = { 'cleanup.policy': 'compact', 'segment.ms': String(3600 * 1000), 'delete.retention.ms': String(24 * 3600 * 1000) } as const;

/** Partitions of the ledger (and its commands) when LEDGER_PARTITIONS is not set. */
export const DEFAULT_LEDGER_PARTITIONS = 6;

export const Topics = {
  /** Commands to the lease ledger, keyed by agreement id so one partition owner decides each agreement. */
  leaseCommands: { name: 'license-ledger.lease.commands', partitions: DEFAULT_LEDGER_PARTITIONS, config: KEEP_A_WEEK, role: 'ledger-routing' },
  /** The ledger itself: every lease event, keyed by agreement id. Never deleted: ops replay it. */
  leaseEvents: { name: 'license-ledger.lease.events', partitions: DEFAULT_LEDGER_PARTITIONS, config: KEEP_FOREVER, role: 'ledger' },
  /**
   * Per ledger partition, its owner's latest snapshot of the partition's state (partition n of the
   * ledger -> partition n here), so a lease instance folds only the events after it. Written in
   * chunks below the default max.message.bytes (libs/lease/ledger/src/snapshot-records.ts).
   */
  leaseSnapshots: { name: 'license-ledger.lease.snapshots', partitions: DEFAULT_LEDGER_PARTITIONS, config: LATEST_PER_KEY, role: 'ledger-state' },
  /**
   * The live key bindings (gateway key -> agreement id; a tombstone when unbound), written in the
   * ledger's transactions: an ingress reads these instead of the whole history.
   */
  leaseKeyDirectory: { name: 'license-ledger.lease.key-directory', partitions: DEFAULT_LEDGER_PARTITIONS, config: LATEST_PER_KEY, role: 'ledger-state' },
  /** Decisions sent back to the instance that asked, keyed by that instance's id. */
  leaseReplies: { name: 'license-ledger.lease.replies', partitions: 6, config: { 'retention.ms': String(3600 * 1000) }, role: 'working' },
  /** Telemetry from accepted license requests, keyed by gateway session id. */
  telemetry: { name: 'license-ledger.telemetry', partitions: 6, config: KEEP_A_WEEK, role: 'working' },
  /**
   * Records a consumer could not process and skipped, from any topic: the original key and value,
   * with `dead-letter.*` headers saying where it came from and why (see dead-letter.ts). Kept four
   * weeks, longer than the topics it copies, so a skipped record can still be inspected and replayed
   * after its source is gone.
   */
  deadLetters: { name: 'license-ledger.dead-letters', partitions: 3, config: KEEP_FOUR_WEEKS, role: 'working' },
} as const satisfies Record<string, TopicSpec>;

/** The topics with their default partitions and the cluster's default replication. */
export const ALL_TOPICS: readonly TopicSpec[] = Object.values(Topics);

/** Cluster-dependent settings every topic is created and checked with (see topic-settings.ts). */
export interface TopicLayout {
  readonly replicationFactor: number;
  readonly minInsyncReplicas: number;
  /** Partitions of the ledger and of its commands: they must be equal, and are fixed at creation. */
  readonly ledgerPartitions: number;
}

/** The project's topics as they must exist on a cluster with this layout. */
export function topicSpecs(layout: TopicLayout): TopicSpec[] {
  return ALL_TOPICS.map((spec) => ({
    ...spec,
    partitions: spec.role === 'ledger' || spec.role === 'ledger-routing' || spec.role === 'ledger-state' ? layout.ledgerPartitions : spec.partitions,
    replicationFactor: layout.replicationFactor,
    config: { ...spec.config, 'min.insync.replicas': String(layout.minInsyncReplicas) },
  }));
}
