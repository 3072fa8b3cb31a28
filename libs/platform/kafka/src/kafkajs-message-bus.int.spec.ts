import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaJsMessageBus } from './kafkajs-message-bus';
import { DeadLetteredRecord, DeadLetterHeaders } from './dead-letter';
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

  /** Everything on `topic` so far, read by a throw-away bus. */
  async function readAll(topic: string): Promise<ReceivedMessage[]> {
    const reader = new KafkaJsMessageBus({ clientId: 'test-reader', brokers, logger: silent });
    const read: ReceivedMessage[] = [];
    try {
      await reader.readRanges({ topic, ranges: await reader.partitionRanges(topic), onMessages: (messages) => void read.push(...messages) });
    } finally {
      await reader.close();
    }
    return read;
  }

  it('retries a transient failure with the same records: nothing skipped, nothing dead-lettered', async () => {
    const topic = `test.bus.${randomUUID()}`;
    const deadLetters = `${topic}.dlq`;
    await createTopic(topic, 1);
    await createTopic(deadLetters, 1);
    const groupId = `test-group-${randomUUID()}`;
    const bus = new KafkaJsMessageBus({ clientId: 'test-transient', brokers, logger: silent, retryBackoffMs: { initial: 50, max: 200 } });
    const handled: string[] = [];
    const tries: string[][] = [];
    const subscription = await bus.subscribe({
      groupId,
      topics: [topic],
      fromBeginning: true,
      deadLetter: { topic: deadLetters, attempts: 1 },
      onMessages: async (messages) => {
        tries.push(messages.map((m) => m.value.toString('utf8')));
        // The database is away for the first two tries: attempts: 1 would dead-letter anything else.
        if (tries.length <= 2) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        handled.push(...messages.map((m) => m.value.toString('utf8')));
      },
    });
    const values = Array.from({ length: 10 }, (_, i) => `m${i}`);
    await producerBus.publish(topic, values.map((v) => ({ key: 'k', value: Buffer.from(v) })));
    await waitFor(() => (handled.length >= values.length ? true : undefined), 30_000, 'every record');
    await subscription.stop();
    await bus.close();
    expect(handled).toEqual(values);
    expect(tries.length).toBeGreaterThanOrEqual(3);
    // The failed tries were of the very records handled afterwards, not of a later batch.
    expect(tries[1]).toEqual(tries[0]);
    expect(tries[2]).toEqual(tries[0]);
    expect(await readAll(deadLetters)).toEqual([]);
  }, 90_000);

  it('dead-letters a record that keeps failing and one reported as poison, commits past them, handles the rest', async () => {
    const topic = `test.bus.${randomUUID()}`;
    const deadLetters = `${topic}.dlq`;
    await createTopic(topic, 1);
    await createTopic(deadLetters, 1);
    const groupId = `test-group-${randomUUID()}`;
    const counted: DeadLetteredRecord[] = [];
    const bus = new KafkaJsMessageBus({ clientId: 'test-poison', brokers, logger: silent, retryBackoffMs: { initial: 10, max: 50 }, onDeadLetter: (r) => counted.push(r) });
    const handled: string[] = [];
    const subscribe = () =>
      bus.subscribe({
        groupId,
        topics: [topic],
        fromBeginning: true,
        deadLetter: { topic: deadLetters },
        onMessages: async (messages, batch) => {
          if (messages.some((m) => m.value.toString('utf8') === 'overflow')) throw Object.assign(new Error('bigint out of range'), { code: '22003' });
          for (const m of messages) {
            if (m.value.toString('utf8') === 'garbage') batch.deadLetter(m, 'not a record');
            else handled.push(m.value.toString('utf8'));
          }
        },
      });
    const subscription = await subscribe();
    const values = ['a', 'b', 'overflow', 'c', 'garbage', 'd', 'e'];
    await producerBus.publish(topic, values.map((v) => ({ key: 'k', value: Buffer.from(v), headers: { trace: v } })));
    await waitFor(() => (handled.includes('e') && counted.length >= 2 ? true : undefined), 30_000, 'the last record');
    await subscription.stop();
    expect([...new Set(handled)]).toEqual(['a', 'b', 'c', 'd', 'e']);

    const dead = await readAll(deadLetters);
    expect(dead.map((m) => [m.key, m.value.toString('utf8')])).toEqual([
      ['k', 'overflow'],
      ['k', 'garbage'],
    ]);
    expect(dead[0]?.headers).toMatchObject({
      trace: 'overflow',
      [DeadLetterHeaders.topic]: topic,
      [DeadLetterHeaders.partition]: '0',
      [DeadLetterHeaders.offset]: '2',
      [DeadLetterHeaders.group]: groupId,
      [DeadLetterHeaders.error]: 'Error: bigint out of range',
    });
    expect(dead[1]?.headers).toMatchObject({ [DeadLetterHeaders.offset]: '4', [DeadLetterHeaders.error]: 'not a record' });
    expect(counted.map((r) => [r.topic, r.offset, r.group])).toEqual([
      [topic, '2', groupId],
      [topic, '4', groupId],
    ]);

    // Committed past them: the group's next member starts after the batch.
    const again: string[] = [];
    const second = await bus.subscribe({ groupId, topics: [topic], fromBeginning: true, onMessages: async (messages) => void again.push(...messages.map((m) => m.value.toString('utf8'))) });
    await producerBus.publish(topic, [{ key: 'k', value: Buffer.from('f') }]);
    await waitFor(() => (again.length >= 1 ? true : undefined), 30_000, 'the new record');
    await second.stop();
    await bus.close();
    expect(again).toEqual(['f']);
  }, 90_000);

  it('assign reads only the partition a key lands on, from its end, in no lasting group', async () => {
    const topic = `test.bus.${randomUUID()}`;
    await createTopic(topic, 3);
    await producerBus.connect();
    await producerBus.publish(topic, [{ key: 'me', value: Buffer.from('before') }]);
    const partition = await consumerBus.partitionOf(topic, 'me');
    const received: ReceivedMessage[] = [];
    const states: string[] = [];
    const name = `test-assigned-${randomUUID().slice(0, 8)}`;
    const reader = await consumerBus.assign({
      name,
      topic,
      partitions: [{ partition, from: 'end' }],
      onState: (state) => void states.push(state.kind),
      onMessages: async (messages) => void received.push(...messages),
    });
    expect(reader.state()).toEqual({ kind: 'reading' });
    await reader.probe();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `key-${i}`, value: Buffer.from(`m${i}`) }));
    await producerBus.publish(topic, [...sent, { key: 'me', value: Buffer.from('after') }]);
    await waitFor(() => (received.some((m) => m.value.toString('utf8') === 'after') ? true : undefined), 30_000, 'the record after start');
    const all = await readAll(topic);
    const expected = all.filter((m) => m.partition === partition && m.value.toString('utf8') !== 'before').map((m) => m.value.toString('utf8'));
    await waitFor(() => (received.length >= expected.length ? true : undefined), 30_000, 'every record of the partition');
    expect(received.every((m) => m.partition === partition)).toBe(true);
    expect(received.map((m) => m.value.toString('utf8'))).toEqual(expected);
    expect(expected.length).toBeLessThan(all.length);
    await reader.stop();
    expect(reader.state()).toEqual({ kind: 'stopped' });
    expect(states).toEqual(['reading', 'stopped']);
    const admin = new Kafka({ clientId: 'test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { groups } = await admin.listGroups();
      expect(groups.filter((g) => g.groupId.startsWith(name))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
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
