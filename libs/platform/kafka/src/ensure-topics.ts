import { Admin, ITopicConfig, Kafka, logLevel } from 'kafkajs';
import { ALL_TOPICS, TopicSpec } from './topics';

type Log = (message: string) => void;
const noop: Log = () => undefined;
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export interface EnsureTopicsOptions {
  log?: (message: string) => void;
  clientId?: string;
}

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
  /** Existing topics whose partition count differs from the spec (reported, never changed). */
  mismatched: { topic: string; expected: number; actual: number }[];
}

/** Creates the topics that are missing (never changes existing ones) and waits until they are usable. */
export async function ensureTopics(
  brokers: readonly string[],
  topics: readonly TopicSpec[] = ALL_TOPICS,
  opts: EnsureTopicsOptions = {},
): Promise<EnsureTopicsResult> {
  const log = opts.log ?? noop;
  const kafka = new Kafka({
    clientId: opts.clientId ?? 'license-ledger-topics',
    brokers: [...brokers],
    // Quiet: kafkajs logs retriable errors (e.g. UNKNOWN_TOPIC_OR_PARTITION while a new topic
    // propagates) as ERROR; real failures reach the caller as exceptions.
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const present = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !present.has(t.name));
    const existingSpecs = topics.filter((t) => present.has(t.name));

    if (missing.length > 0) {
      const configs: ITopicConfig[] = missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
      }));
      // kafkajs's own waitForLeaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker
      // returns until the new topic reaches its metadata cache; so we wait ourselves.
      await admin.createTopics({ topics: configs, waitForLeaders: false, timeout: 30_000 });
      await waitForLeaders(admin, missing.map((t) => t.name), 30_000);
    }

    const mismatched: EnsureTopicsResult['mismatched'] = [];
    if (existingSpecs.length > 0) {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics: existingSpecs.map((t) => t.name) });
      for (const spec of existingSpecs) {
        const actual = metadata.find((m) => m.name === spec.name)?.partitions.length ?? 0;
        if (actual !== spec.partitions) {
          mismatched.push({ topic: spec.name, expected: spec.partitions, actual });
          log(`WARNING: topic ${spec.name} has ${actual} partitions, the spec says ${spec.partitions} (left unchanged)`);
        }
      }
    }

    const result: EnsureTopicsResult = {
      created: missing.map((t) => t.name),
      existing: existingSpecs.map((t) => t.name),
      mismatched,
    };
    log(`Topics: created [${result.created.join(', ')}], already there [${result.existing.join(', ')}]`);
    return result;
  } finally {
    await admin.disconnect();
  }
}

/** Polls metadata until every partition of the topics has a leader, so callers can use them at once. */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = '';
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      const leaderless = metadata.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (leaderless.length === 0 && metadata.length === topics.length) return;
      lastProblem = `no leader yet for ${leaderless.map((t) => t.name).join(', ')}`;
    } catch (err) {
      lastProblem = errorMessage(err); // UNKNOWN_TOPIC_OR_PARTITION until the metadata arrives
    }
    if (Date.now() > deadline) throw new Error(`Topics not ready after ${timeoutMs} ms: ${lastProblem}`);
    await delay(100);
  }
}

