import { Admin, ITopicConfig } from 'kafkajs';
import { checkTopics, TopicCheckError, TopicProblem } from './topic-check';
import { clusterTopicSettings, describeTopics, quietAdmin } from './describe-topics';
import { loadTopicSettings } from './topic-settings';
import { TopicSpec, topicSpecs } from './topics';

type Log = (message: string) => void;
const noop: Log = () => undefined;
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export interface EnsureTopicsOptions {
  log?: (message: string) => void;
  clientId?: string;
  /** Where the topic settings come from when `topics` is omitted (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
  /** Existing topics whose partition count differs from the spec (reported, never changed). */
  mismatched: { topic: string; expected: number; actual: number }[];
  /** Every deviation of an existing topic from its spec (see topic-check.ts); never changed here. */
  problems: TopicProblem[];
}

/**
 * Creates the topics that are missing (never changes existing ones) and waits until they are
 * usable. Without `topics`: the project's topics, with the replication factor, min.insync.replicas
 * and ledger partitions of KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS and LEDGER_PARTITIONS,
 * or else derived from the cluster's size; settings that would put the ledger at risk throw
 * TopicCheckError before anything is created.
 */
export async function ensureTopics(
  brokers: readonly string[],
  topics?: readonly TopicSpec[],
  opts: EnsureTopicsOptions = {},
): Promise<EnsureTopicsResult> {
  const log = opts.log ?? noop;
  const admin = quietAdmin(brokers, opts.clientId ?? 'license-ledger-topics');
  await admin.connect();
  try {
    let specs: readonly TopicSpec[];
    if (topics) {
      specs = topics;
    } else {
      const settings = await clusterTopicSettings(admin, loadTopicSettings(opts.env ?? process.env));
      for (const warning of settings.warnings) log(`WARNING: ${warning}`);
      if (settings.problems.length > 0) throw new TopicCheckError(settings.problems);
      const { replicationFactor, minInsyncReplicas, ledgerPartitions } = settings.layout;
      log(`Topic layout for ${settings.brokers} broker(s): replication ${replicationFactor}, min.insync.replicas ${minInsyncReplicas}, ledger partitions ${ledgerPartitions}`);
      specs = topicSpecs(settings.layout);
    }
    const present = new Set(await admin.listTopics());
    const missing = specs.filter((t) => !present.has(t.name));
    const existingSpecs = specs.filter((t) => present.has(t.name));

    if (missing.length > 0) {
      const configs: ITopicConfig[] = missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        ...(t.replicationFactor === undefined ? {} : { replicationFactor: t.replicationFactor }),
        configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
      }));
      // kafkajs's own waitForLeaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker
      // returns until the new topic reaches its metadata cache; so we wait ourselves.
      await admin.createTopics({ topics: configs, waitForLeaders: false, timeout: 30_000 });
      await waitForLeaders(admin, missing.map((t) => t.name), 30_000);
    }

    const problems = existingSpecs.length === 0 ? [] : checkTopics(existingSpecs, await describeTopics(admin, existingSpecs.map((t) => t.name)));
    const mismatched = problems
      .filter((p) => p.setting === 'partitions')
      .map((p) => ({ topic: p.topic, expected: Number(p.expected), actual: Number(p.actual) }));
    for (const problem of problems) log(`${problem.severity === 'refuse' ? 'REFUSED (services will not start)' : 'WARNING'}: ${problem.message} (left unchanged)`);

    const result: EnsureTopicsResult = {
      created: missing.map((t) => t.name),
      existing: existingSpecs.map((t) => t.name),
      mismatched,
      problems,
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
