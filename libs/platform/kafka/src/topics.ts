/**
 * The one place where the project's Kafka topics are defined. The local broker script, the
 * docker-compose init and the services all create or check topics from this list.
 */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Broker-side topic configs (string values, as Kafka takes them). */
  readonly config: Readonly<Record<string, string>>;
}

const KEEP_FOREVER = { 'retention.ms': '-1', 'retention.bytes': '-1' } as const;
const KEEP_A_WEEK = { 'retention.ms': String(7 * 24 * 3600 * 1000) } as const;
const KEEP_FOUR_WEEKS = { 'retention.ms': String(28 * 24 * 3600 * 1000) } as const;

export const Topics = {
  /** Commands to the lease ledger, keyed by agreement id so one partition owner decides each agreement. */
  leaseCommands: { name: 'license-ledger.lease.commands', partitions: 6, config: KEEP_A_WEEK },
  /** The ledger itself: every lease event, keyed by agreement id. Never deleted: ops replay it. */
  leaseEvents: { name: 'license-ledger.lease.events', partitions: 6, config: KEEP_FOREVER },
  /** Decisions sent back to the instance that asked, keyed by that instance's id. */
  leaseReplies: { name: 'license-ledger.lease.replies', partitions: 6, config: { 'retention.ms': String(3600 * 1000) } },
  /** Telemetry from accepted license requests, keyed by gateway session id. */
  telemetry: { name: 'license-ledger.telemetry', partitions: 6, config: KEEP_A_WEEK },
  /**
   * Records a consumer could not process and skipped, from any topic: the original key and value,
   * with `dead-letter.*` headers saying where it came from and why (see dead-letter.ts). Kept four
   * weeks, longer than the topics it copies, so a skipped record can still be inspected and replayed
   * after its source is gone.
   */
  deadLetters: { name: 'license-ledger.dead-letters', partitions: 3, config: KEEP_FOUR_WEEKS },
} as const satisfies Record<string, TopicSpec>;

export const ALL_TOPICS: readonly TopicSpec[] = Object.values(Topics);
