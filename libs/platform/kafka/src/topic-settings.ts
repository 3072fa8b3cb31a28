/**
 * Replication and partition settings of the project's topics: from the environment where set,
 * otherwise derived from the size of the cluster (describeCluster), so one laptop broker and a
 * three-broker production cluster both work without configuration, and production is safe.
 */
import { loadConfig } from '@license-ledger/platform-config';
import { z } from 'zod';
import { DEFAULT_LEDGER_PARTITIONS, TopicLayout } from './topics';

const count = (max: number) => z.coerce.number().int().min(1).max(max).optional();

/** Environment variables read by every service (at start) and by the tools that create topics. */
export const topicSettingsShape = {
  /** Copies of every partition. Unset: 3 on a cluster of three or more brokers, else one per broker. */
  KAFKA_REPLICATION_FACTOR: count(16),
  /** Copies that must have a write before it is acknowledged (producers use acks=all). Unset: 2 with 3+ copies, else 1. */
  KAFKA_MIN_INSYNC_REPLICAS: count(16),
  /** Partitions of the ledger and its commands topic, chosen once, at creation. Unset: 6. */
  LEDGER_PARTITIONS: count(10_000),
};

export type TopicSettingsEnv = z.infer<z.ZodObject<typeof topicSettingsShape>>;

/** Parses the variables; throws ConfigError naming each bad one. */
export function loadTopicSettings(env: Readonly<Record<string, string | undefined>> = process.env): TopicSettingsEnv {
  return loadConfig(topicSettingsShape, env);
}

export interface ResolvedTopicSettings {
  readonly layout: TopicLayout;
  /** Settings that put the ledger at risk: nothing may run on them. */
  readonly problems: readonly string[];
  /** Settings that are fine for development, not for production. */
  readonly warnings: readonly string[];
}

/** Copies the ledger needs at least where the cluster has room for them. */
export const SAFE_REPLICATION_FACTOR = 3;
export const SAFE_MIN_INSYNC_REPLICAS = 2;

/** The layout for a cluster of `brokerCount` brokers (those registered now). Pure. */
export function resolveTopicSettings(env: TopicSettingsEnv, brokerCount: number): ResolvedTopicSettings {
  const replicationFactor = env.KAFKA_REPLICATION_FACTOR ?? Math.max(1, Math.min(SAFE_REPLICATION_FACTOR, brokerCount));
  const minInsyncReplicas = env.KAFKA_MIN_INSYNC_REPLICAS ?? Math.max(1, Math.min(SAFE_MIN_INSYNC_REPLICAS, replicationFactor - 1));
  const ledgerPartitions = env.LEDGER_PARTITIONS ?? DEFAULT_LEDGER_PARTITIONS;
  const problems: string[] = [];
  const warnings: string[] = [];
  const rf = `KAFKA_REPLICATION_FACTOR=${replicationFactor}${env.KAFKA_REPLICATION_FACTOR === undefined ? ' (derived)' : ''}`;
  const isr = `KAFKA_MIN_INSYNC_REPLICAS=${minInsyncReplicas}${env.KAFKA_MIN_INSYNC_REPLICAS === undefined ? ' (derived)' : ''}`;

  if (minInsyncReplicas > replicationFactor) {
    problems.push(`${isr} is more than ${rf}: no write could ever be acknowledged`);
  }
  // One broker of a bigger cluster may be down while we look; more copies than brokers is then
  // still right, so this only concerns explicitly configured factors on a cluster that is small.
  if (env.KAFKA_REPLICATION_FACTOR !== undefined && replicationFactor > brokerCount && brokerCount < SAFE_REPLICATION_FACTOR) {
    warnings.push(`${rf} but only ${brokerCount} broker(s) answer: topics cannot be created until more join`);
  }
  if (brokerCount >= SAFE_REPLICATION_FACTOR) {
    if (replicationFactor < SAFE_REPLICATION_FACTOR) {
      problems.push(`${rf} on a cluster of ${brokerCount} brokers: the ledger would be lost with ${replicationFactor} disk(s); use at least ${SAFE_REPLICATION_FACTOR}`);
    }
    if (minInsyncReplicas < SAFE_MIN_INSYNC_REPLICAS) {
      problems.push(`${isr} on a cluster of ${brokerCount} brokers: an acknowledged ledger event could live on one disk only; use at least ${SAFE_MIN_INSYNC_REPLICAS}`);
    }
  } else if (replicationFactor < SAFE_REPLICATION_FACTOR) {
    warnings.push(
      `${brokerCount} broker(s): topics keep ${replicationFactor} cop${replicationFactor === 1 ? 'y' : 'ies'} of each partition (${rf}, ${isr}); ` +
        'fine for development, but losing a disk loses the ledger. Run three or more brokers in production.',
    );
  }
  return { layout: { replicationFactor, minInsyncReplicas, ledgerPartitions }, problems, warnings };
}
