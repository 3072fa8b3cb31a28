import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaJsMessageBus } from './kafkajs-message-bus';
import { ReceivedMessage } from './message-bus';

const brokersVar = process.env['KAFKA_BROKERS'];
if (!brokersVar) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts a broker');
const brokers = brokersVar.split(',');

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

async function createTopic(name: string, partitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const value = check();
      if (value !== undefined) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

describe('KafkaJsMessageBus on the real broker', () => {
  const producerBus = new KafkaJsMessageBus({ clientId: 'test-producer-app', brokers, logger: silent });
  const consumerBus = new KafkaJsMessageBus({ clientId: 'test-consumer-app', brokers, logger: silent });

  afterAll(async () => {
    await Promise.all([producerBus.close(), consumerBus.close()]);
  });

  it('delivers what one client publishes to another client’s consumer group, in key order, and commits', async () => {
    const topic = `test.bus.${randomUUID()}`;
    const groupId = `test-group-${randomUUID()}`;
    await createTopic(topic, 3);
    await producerBus.connect();

    const received: ReceivedMessage[] = [];
    const subscription = await consumerBus.subscribe({
      groupId,
      topics: [topic],
      fromBeginning: true,
      onMessages: async (messages) => {
        received.push(...messages);
      },
    });

    const keys = ['agreement-a', 'agreement-b', 'agreement-c'];
    const sent = Array.from({ length: 30 }, (_, i) => ({
      key: keys[i % keys.length] ?? null,
      value: Buffer.from(JSON.stringify({ seq: i })),
      headers: { 'content-type': 'application/json' },
    }));
    await producerBus.publish(topic, sent);

    await waitFor(() => (received.length >= sent.length ? true : undefined), 30_000, 'all messages');
    expect(received).toHaveLength(sent.length);
    for (const key of keys) {
      const seqs = received
        .filter((m) => m.key === key)
        .map((m) => (JSON.parse(m.value.toString('utf8')) as { seq: number }).seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(received.filter((m) => m.key === key).map((m) => m.partition)).size).toBe(1);
    }
    expect(received[0]?.headers).toEqual({ 'content-type': 'application/json' });
    await subscription.stop();

    // A new member of the same group starts after the committed offsets: nothing is re-delivered.
    const again: ReceivedMessage[] = [];
    const second = await consumerBus.subscribe({
      groupId,
      topics: [topic],
      fromBeginning: true,
      onMessages: async (messages) => {
        again.push(...messages);
      },
    });
    await producerBus.publish(topic, [{ key: 'agreement-a', value: Buffer.from('{"seq":999}') }]);
    await waitFor(() => (again.length >= 1 ? true : undefined), 30_000, 'the new message');
    expect(again.map((m) => m.value.toString('utf8'))).toEqual(['{"seq":999}']);
    await second.stop();
  }, 90_000);

  it('ping fails when no broker is there', async () => {
    const nowhere = new KafkaJsMessageBus({
      clientId: 'test-nowhere',
      brokers: ['127.0.0.1:1'],
      logger: silent,
      requestTimeoutMs: 500,
    });
    await expect(nowhere.ping()).rejects.toThrow();
    await nowhere.close();
  }, 60_000);
});
