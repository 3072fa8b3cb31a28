/**
 * Reads what the topic check needs from a cluster, and runs the check services do at start.
 */
import { Admin, ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { CHECKED_CONFIGS, checkTopics, ObservedTopic, TopicCheckError, TopicProblem } from './topic-check';
import { loadTopicSettings, resolveTopicSettings, ResolvedTopicSettings, TopicSettingsEnv } from './topic-settings';
import { ALL_TOPICS, TopicLayout, topicSpecs } from './topics';

/** A quiet admin client: kafkajs logs retriable errors as ERROR; real failures reach us as exceptions. */
export function quietAdmin(brokers: readonly string[], clientId: string): Admin {
  return new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.NOTHING, connectionTimeout: 3_000 }).admin();
}

/**
 * How many brokers the cluster has: those answering now, plus any that holds a replica of one of
 * `topics` (a broker that is down is not listed by describeCluster, but its replicas are; without
 * them a service restarting while one broker of three is down would think the cluster has two).
 */
export async function brokerCount(admin: Admin, topics: readonly string[] = ALL_TOPICS.map((t) => t.name)): Promise<number> {
  const ids = new Set((await admin.describeCluster()).brokers.map((b) => b.nodeId));
  const present = new Set(await admin.listTopics());
  const existing = topics.filter((t) => present.has(t));
  if (existing.length > 0) {
    for (const topic of (await admin.fetchTopicMetadata({ topics: existing })).topics) {
      for (const partition of topic.partitions) for (const id of partition.replicas) ids.add(id);
    }
  }
  return ids.size;
}

/** The layout for this cluster from `env` (throws ConfigError on bad values). */
export async function clusterTopicSettings(admin: Admin, env: TopicSettingsEnv): Promise<ResolvedTopicSettings & { brokers: number }> {
  const brokers = await brokerCount(admin);
  return { ...resolveTopicSettings(env, brokers), brokers };
}

/** Partitions, replicas and the checked configs of those of `names` that exist. */
export async function describeTopics(admin: Admin, names: readonly string[]): Promise<ObservedTopic[]> {
  const present = new Set(await admin.listTopics());
  const existing = names.filter((name) => present.has(name));
  if (existing.length === 0) return [];
  const { topics } = await admin.fetchTopicMetadata({ topics: existing });
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: existing.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: [...CHECKED_CONFIGS] })),
  });
  return topics.map((topic) => {
    const resource = described.resources.find((r) => r.resourceName === topic.name);
    return {
      name: topic.name,
      partitions: topic.partitions.map((p) => ({ partitionId: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr })),
      configs: Object.fromEntries((resource?.configEntries ?? []).map((e) => [e.configName, e.configValue])),
    };
  });
}

export interface StartupTopicCheckOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Where KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS and LEDGER_PARTITIONS come from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long to keep trying while the cluster does not answer. Default 30 s. */
  readonly timeoutMs?: number;
  readonly onWarning?: (message: string, problem?: TopicProblem) => void;
}

export interface StartupTopicCheck {
  readonly layout: TopicLayout;
  readonly brokers: number;
  readonly problems: readonly TopicProblem[];
}

/**
 * What a service does before it serves: resolves the layout for this cluster and compares the
 * project's topics with it. Throws TopicCheckError naming every topic and setting that could lose
 * ledger data; reports the rest through onWarning. A cluster that does not answer is retried
 * until timeoutMs, then the error is thrown (the service cannot run without it anyway).
 */
export async function checkTopicsAtStart(options: StartupTopicCheckOptions): Promise<StartupTopicCheck> {
  const env = loadTopicSettings(options.env ?? process.env);
  const warn = options.onWarning ?? (() => undefined);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const admin = quietAdmin(options.brokers, options.clientId);
    let described: { settings: ResolvedTopicSettings & { brokers: number }; observed: ObservedTopic[] };
    try {
      await admin.connect();
      const settings = await clusterTopicSettings(admin, env);
      const specs = topicSpecs(settings.layout);
      described = { settings, observed: await describeTopics(admin, specs.map((s) => s.name)) };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      continue;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const { settings, observed } = described;
    const problems = checkTopics(topicSpecs(settings.layout), observed);
    for (const warning of settings.warnings) warn(warning);
    for (const problem of problems.filter((p) => p.severity === 'warn')) warn(problem.message, problem);
    const refusals = [...settings.problems, ...problems.filter((p) => p.severity === 'refuse').map((p) => p.message)];
    if (refusals.length > 0) throw new TopicCheckError(refusals);
    return { layout: settings.layout, brokers: settings.brokers, problems };
  }
}
