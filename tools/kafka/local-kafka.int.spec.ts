/**
 * Proves that kafkajs 2.2.4 works against the broker version pinned in tools/kafka/pom.xml:
 * topic creation from topics.ts, a consumer group, and transactions (commit, abort,
 * sendOffsets). Uses KAFKA_BROKERS when set, otherwise starts its own broker.
 * Set LOCAL_KAFKA_VERBOSE=1 to see the broker start-up and kafkajs warnings.
 *
 * Messages go to scratch topics with a per-run prefix (deleted afterwards), never to the
 * project topics: on a shared cluster those hold real data.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, ConfigResourceTypes, logLevel } from 'kafkajs';
import type { Consumer, KafkaMessage, Producer } from 'kafkajs';
// Relative on purpose: only the topic list, not the whole platform-kafka library (message bus, ...).
import { ALL_TOPICS } from '@license-ledger/platform-kafka';
import type { TopicSpec } from '@license-ledger/platform-kafka';
import { ensureTopics, startLocalKafka } from './local-kafka';
import type { LocalKafka } from './local-kafka';

const verbose = Boolean(process.env['LOCAL_KAFKA_VERBOSE']);
const log = (msg: string): void => {
  if (verbose) console.log(msg);
};

// Explicit, so the spec does not depend on the Jest config's default timeout.
const TEST_TIMEOUT_MS = 60_000;
// Consumers' fetch long-poll: stop()/disconnect() wait for it, and kafkajs's default is 5 s.
const FETCH_WAIT_MS = 250;

const runId = randomUUID().slice(0, 8);
const scratch = {
  plain: { name: `local-kafka-spec.${runId}.plain`, partitions: 3, config: {} },
  txn: { name: `local-kafka-spec.${runId}.txn`, partitions: 1, config: {} },
  input: { name: `local-kafka-spec.${runId}.in`, partitions: 1, config: {} },
  output: { name: `local-kafka-spec.${runId}.out`, partitions: 1, config: {} },
} satisfies Record<string, TopicSpec>;
const SCRATCH_TOPICS: TopicSpec[] = Object.values(scratch);

const externalBrokers = (process.env['KAFKA_BROKERS'] ?? '')
  .split(',')
  .map((b) => b.trim())
  .filter((b) => b !== '');

let localKafka: LocalKafka | undefined;
let kafka: Kafka;
const clients: { disconnect(): Promise<void> }[] = [];

beforeAll(async () => {
  let brokers = externalBrokers;
  if (brokers.length > 0) {
    log(`Using KAFKA_BROKERS=${brokers.join(',')}`);
    await ensureTopics(brokers, ALL_TOPICS, { log });
  } else {
    const started = Date.now();
    localKafka = await startLocalKafka({ log });
    log(`startLocalKafka took ${Date.now() - started} ms`);
    brokers = localKafka.brokers;
  }
  kafka = new Kafka({
    clientId: 'local-kafka-spec',
    brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const error: unknown = entry.log['error'];
      log(`kafkajs ${levelName(entry.level)} ${entry.namespace}: ${entry.log.message}${error ? ` (${String(error)})` : ''}`);
    },
  });
  await ensureTopics(brokers, SCRATCH_TOPICS, { log });
}, 180_000); // the first run downloads the broker jars

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.disconnect()));
  if (kafka && !localKafka) {
    // A shared cluster keeps nothing from this run.
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: SCRATCH_TOPICS.map((t) => t.name) }).finally(() => admin.disconnect());
  }
  await localKafka?.stop();
}, 60_000);

describe('local Kafka broker with kafkajs', () => {
  it('has every project topic with the partitions and configs from topics.ts', async () => {
    const admin = await connected(kafka.admin());
    const names = ALL_TOPICS.map((t) => t.name);

    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    const partitionsByTopic = Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
    expect(partitionsByTopic).toEqual(Object.fromEntries(ALL_TOPICS.map((t) => [t.name, t.partitions])));

    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    });
    for (const spec of ALL_TOPICS) {
      const resource = described.resources.find((r) => r.resourceName === spec.name);
      const actual = Object.fromEntries((resource?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
      expect({ topic: spec.name, ...pick(actual, Object.keys(spec.config)) }).toEqual({ topic: spec.name, ...spec.config });
    }
  }, TEST_TIMEOUT_MS);

  it('ensureTopics is idempotent', async () => {
    const result = await ensureTopics(brokersOf(), ALL_TOPICS);
    expect(result).toEqual({ created: [], existing: ALL_TOPICS.map((t) => t.name), mismatched: [], problems: [] });
  }, TEST_TIMEOUT_MS);

  it('produces and consumes through a consumer group, and commits the group offset', async () => {
    const topic = scratch.plain.name;
    const groupId = `local-kafka-spec.${runId}.group`;
    // Idempotent: a retried produce request (a slow answer on a busy machine) is not written twice.
    const producer = await connected(kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 }));
    const sent = ['one', 'two', 'three'].map((value) => ({ key: `agreement-${value}`, value, headers: { run: runId } }));
    const [metadata] = await producer.send({ topic, messages: sent });
    expect(metadata?.errorCode).toBe(0);

    const consumer = await connected(kafka.consumer({ groupId, maxWaitTimeInMs: FETCH_WAIT_MS }));
    const received = collect(consumer);
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => received.push(partition, message) });

    const messages = await received.waitFor((all) => all.length >= sent.length);
    expect(messages.map((m) => m.value?.toString()).sort()).toEqual(['one', 'three', 'two']);
    for (const m of messages) {
      expect(m.key?.toString()).toBe(`agreement-${m.value?.toString() ?? ''}`);
      expect(m.headers?.['run']?.toString()).toBe(runId);
    }

    // The group's consumed position is stored on the broker (auto-commit on stop).
    await consumer.stop();
    const admin = await connected(kafka.admin());
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    expect(committed).toBe(sent.length);
  }, TEST_TIMEOUT_MS);

  it('commits and aborts transactions: read_committed never sees the aborted message', async () => {
    const topic = scratch.txn.name;
    const producer = await connected(transactionalProducer('commit-abort'));

    const first = await producer.transaction();
    await first.send({ topic, messages: [{ key: 'k', value: 'committed-1' }] });
    await first.commit();

    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted-1' }] });
    await aborted.abort();

    const last = await producer.transaction();
    await last.send({ topic, messages: [{ key: 'k', value: 'committed-2' }] });
    await last.commit();

    const readCommitted = await consumeValues(topic, false, 'committed-2');
    expect(readCommitted).toEqual(['committed-1', 'committed-2']);

    // The aborted record is really in the log: only the isolation level hides it.
    const readUncommitted = await consumeValues(topic, true, 'committed-2');
    expect(readUncommitted).toEqual(['committed-1', 'aborted-1', 'committed-2']);
  }, TEST_TIMEOUT_MS);

  it('commits consumer offsets inside a transaction (sendOffsets) only when it commits', async () => {
    const input = scratch.input.name;
    const output = scratch.output.name;
    const groupId = `local-kafka-spec.${runId}.processor`;
    const plain = await connected(kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner }));
    await plain.send({ topic: input, messages: [{ value: 'in-0' }, { value: 'in-1' }] });

    const producer = await connected(transactionalProducer('send-offsets'));
    const admin = await connected(kafka.admin());
    const committedOffset = async (): Promise<string | undefined> =>
      (await admin.fetchOffsets({ groupId, topics: [input] }))[0]?.partitions.find((p) => p.partition === 0)?.offset;

    // Processed in-0, then the transaction aborts: neither output nor offset may survive.
    const abortedTxn = await producer.transaction();
    await abortedTxn.send({ topic: output, messages: [{ value: 'out-from-aborted' }] });
    await abortedTxn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '1' }] }] });
    await abortedTxn.abort();
    expect(await committedOffset()).toBe('-1');

    // Processed in-0 and in-1 and commits: output and offset appear together.
    const txn = await producer.transaction();
    await txn.send({ topic: output, messages: [{ value: 'out-0' }, { value: 'out-1' }] });
    await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '2' }] }] });
    await txn.commit();
    expect(await committedOffset()).toBe('2');
    expect(await consumeValues(output, false, 'out-1')).toEqual(['out-0', 'out-1']);
  }, TEST_TIMEOUT_MS);
});

/**
 * A property of the broker startLocalKafka configures, not of whatever cluster KAFKA_BROKERS names
 * (that one may allow auto-creation): so it runs against a broker of this spec's own, started
 * here when the run's broker is external.
 */
describe('a broker from startLocalKafka', () => {
  const defined: TopicSpec = { name: `local-kafka-spec.${runId}.defined`, partitions: 1, config: {} };
  let own: LocalKafka | undefined;
  let ownKafka: Kafka;
  const ownClients: { connect(): Promise<void>; disconnect(): Promise<void> }[] = [];
  const ownConnected = async <T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(client: T): Promise<T> => {
    ownClients.push(client);
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    const broker = localKafka ?? (own = await startLocalKafka({ topics: [defined], heap: '256m', log }));
    if (broker === localKafka) await ensureTopics(broker.brokers, [defined], { log });
    ownKafka = new Kafka({ clientId: 'local-kafka-spec-own', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  }, 180_000);

  afterAll(async () => {
    // Clients first: the broker they talk to may be about to stop.
    await Promise.allSettled(ownClients.map((c) => c.disconnect()));
    await own?.stop();
  }, 60_000);

  it('rejects producing to a topic that topics.ts does not define (no auto-creation)', async () => {
    const producer = await ownConnected(ownKafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 1 } }));
    // The same producer reaches a defined topic, so the refusal below is about the topic, not the broker.
    const [written] = await producer.send({ topic: defined.name, messages: [{ value: 'x' }] });
    expect(written?.errorCode).toBe(0);

    const undefinedTopic = `local-kafka-spec.${runId}.undefined`;
    await expect(producer.send({ topic: undefinedTopic, messages: [{ value: 'x' }] })).rejects.toThrow('This server does not host this topic-partition');
    const admin = await ownConnected(ownKafka.admin());
    expect(await admin.listTopics()).not.toContain(undefinedTopic);
  }, TEST_TIMEOUT_MS);
});

function brokersOf(): string[] {
  return localKafka?.brokers ?? externalBrokers;
}

function transactionalProducer(name: string): Producer {
  return kafka.producer({
    transactionalId: `local-kafka-spec.${runId}.${name}`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/** Reads a topic from the start with a fresh group until `lastValue` arrives; returns the values in order. */
async function consumeValues(topic: string, readUncommitted: boolean, lastValue: string): Promise<string[]> {
  const consumer = await connected(kafka.consumer({ groupId: `local-kafka-spec.${runId}.${randomUUID()}`, readUncommitted, maxWaitTimeInMs: FETCH_WAIT_MS }));
  const received = collect(consumer);
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ eachMessage: async ({ partition, message }) => received.push(partition, message) });
  const messages = await received.waitFor((all) => all.some((m) => m.value?.toString() === lastValue));
  await consumer.disconnect();
  return messages.map((m) => m.value?.toString() ?? '');
}

/**
 * A consumer's messages, each record once: a group delivers at least once, so after a rebalance
 * before its offsets were committed (a slow join on a busy machine) a record may come again, at the
 * same partition and offset. waitFor fails the test with what arrived so far if the condition stays false.
 */
function collect(consumer: Consumer): {
  push(partition: number, message: KafkaMessage): void;
  waitFor(done: (all: KafkaMessage[]) => boolean, timeoutMs?: number): Promise<KafkaMessage[]>;
} {
  const all: KafkaMessage[] = [];
  const seen = new Set<string>();
  let crashed: unknown;
  consumer.on(consumer.events.CRASH, (event) => {
    crashed = event.payload.error;
  });
  return {
    push: (partition, message) => {
      const position = `${partition}:${message.offset}`;
      if (seen.has(position)) return;
      seen.add(position);
      all.push(message);
    },
    async waitFor(done, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(all)) {
        if (crashed !== undefined) throw new Error(`consumer crashed: ${String(crashed)}`);
        if (Date.now() > deadline) {
          throw new Error(`timed out; received: ${JSON.stringify(all.map((m) => m.value?.toString()))}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return [...all];
    },
  };
}

/** Connects a kafkajs client and registers it for disconnection in afterAll. */
async function connected<T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(client: T): Promise<T> {
  clients.push(client);
  await client.connect();
  return client;
}

function levelName(level: logLevel): string {
  return Object.entries(logLevel).find(([, value]) => value === level)?.[0] ?? String(level);
}

function pick(record: Record<string, string>, keys: string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((k) => [k, record[k]]));
}
