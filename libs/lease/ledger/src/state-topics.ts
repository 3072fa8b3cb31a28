import { ensureTopics, MessageBus, TopicSpec, Topics } from '@license-ledger/platform-kafka';

/**
 * The compacted topics the lease service derives from a ledger's events topic: its partitions'
 * snapshots and its live key bindings. Their names follow the events topic's, so every ledger on a
 * cluster (tests run many) has its own: `license-ledger.lease.events` -> `license-ledger.lease.snapshots`
 * and `license-ledger.lease.key-directory`, as in topics.ts.
 */
export interface LedgerStateTopics {
  readonly snapshots: string;
  readonly keyDirectory: string;
}

export function stateTopicsOf(eventsTopic: string): LedgerStateTopics {
  const base = eventsTopic.endsWith('.events') ? eventsTopic.slice(0, -'.events'.length) : eventsTopic;
  return { snapshots: `${base}.snapshots`, keyDirectory: `${base}.key-directory` };
}

/**
 * Creates the state topics of `eventsTopic` that are missing, with the events topic's partition
 * count and the compacted settings of topics.ts. `npm start` and tools/setup.ts create the ones
 * named in topics.ts with the cluster's layout; this covers ledgers under other names (tests,
 * several ledgers on one cluster), with KAFKA_REPLICATION_FACTOR / KAFKA_MIN_INSYNC_REPLICAS when
 * set and else the broker's defaults. Two services racing to create one is harmless: the loser
 * finds it there on its retry.
 */
export async function ensureStateTopics(
  brokers: readonly string[],
  bus: MessageBus,
  eventsTopic: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<LedgerStateTopics> {
  const names = stateTopicsOf(eventsTopic);
  const partitions = await partitionCount(bus, eventsTopic);
  if (partitions === 0) throw new Error(`topic ${eventsTopic} has no partitions`);
  const replication = env['KAFKA_REPLICATION_FACTOR'];
  const minInsync = env['KAFKA_MIN_INSYNC_REPLICAS'];
  const spec = (name: string, config: Readonly<Record<string, string>>): TopicSpec => ({
    name,
    partitions,
    config: { ...config, ...(minInsync ? { 'min.insync.replicas': minInsync } : {}) },
    ...(replication ? { replicationFactor: Number(replication) } : {}),
    role: 'ledger-state',
  });
  const specs = [spec(names.snapshots, Topics.leaseSnapshots.config), spec(names.keyDirectory, Topics.leaseKeyDirectory.config)];
  try {
    await ensureTopics(brokers, specs);
  } catch {
    // Another service created it between our look and our create: look again.
    await ensureTopics(brokers, specs);
  }
  return names;
}

/** The topic's partition count, asking again while its leaders settle (a topic just created). */
async function partitionCount(bus: MessageBus, topic: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await bus.partitionRanges(topic)).length;
    } catch (error) {
      if (attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}
