import { randomUUID } from 'node:crypto';
import { CompressionTypes, Kafka, logLevel, Producer } from 'kafkajs';
import { KafkaJsMessageBus } from '../kafkajs-message-bus';
import type { PartitionRange, ReceivedMessage } from '../message-bus';
import { LeanReadRefusedError, LeanReaderConfig, readRangesLean } from './lean-range-reader';

const brokersVar = process.env['KAFKA_BROKERS'];
if (!brokersVar) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts a broker');
const brokers = brokersVar.split(',');

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const kafka = new Kafka({ clientId: 'test-lean', brokers, logLevel: logLevel.NOTHING });
const lean: LeanReaderConfig = { clientId: 'test-lean', brokers };
/** Answers of about one batch: most end inside a batch, and transactions span many answers. */
const tiny: LeanReaderConfig = { ...lean, maxBytes: 600, partitionMaxBytes: 300 };

async function createTopic(partitions: number, config: Record<string, string> = {}): Promise<string> {
  const topic = `test.lean.${randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, configEntries: Object.entries(config).map(([name, value]) => ({ name, value })) }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

const bus = new KafkaJsMessageBus({ clientId: 'test-lean-bus', brokers, logger: silent });
const kafkajsBus = new KafkaJsMessageBus({ clientId: 'test-lean-kafkajs', brokers, logger: silent, rangeReader: 'kafkajs' });
const producers: Producer[] = [];

async function producer(transactionalId?: string): Promise<Producer> {
  const p = transactionalId ? kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 }) : kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  producers.push(p);
  return p;
}

afterAll(async () => {
  await Promise.all([bus.close(), kafkajsBus.close(), ...producers.map((p) => p.disconnect())]);
});

interface Read {
  readonly messages: ReceivedMessage[];
  readonly positions: Map<number, string>;
}

/** Reads `ranges` (default: the whole topic) with the lean reader (`config`), or the bus's readRanges. */
async function read(topic: string, how: LeanReaderConfig | KafkaJsMessageBus, ranges?: readonly PartitionRange[]): Promise<Read> {
  const messages: ReceivedMessage[] = [];
  const positions = new Map<number, string>();
  const options = {
    topic,
    ranges: ranges ?? (await bus.partitionRanges(topic)),
    onMessages: (batch: readonly ReceivedMessage[]) => void messages.push(...batch),
    onPosition: (partition: number, next: string) => void positions.set(partition, next),
  };
  if (how instanceof KafkaJsMessageBus) {
    for (let attempt = 1; ; attempt++) {
      try {
        await how.readRanges(options);
        break;
      } catch (error) {
        // kafkajs reads through a consumer group; on a fresh broker the group coordinator may still
        // be loading (GROUP_LOAD_IN_PROGRESS), which its readRanges does not retry. Nothing was
        // handed over then.
        if (how !== kafkajsBus || attempt >= 10 || (error as { type?: unknown }).type !== 'GROUP_LOAD_IN_PROGRESS' || messages.length > 0) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } else await readRangesLean(how, options);
  return { messages, positions };
}

/** Comparable records: partition and offset order within a partition is the reader's, partitions are sorted. */
const plain = (messages: readonly ReceivedMessage[]) =>
  [...messages]
    .sort((a, b) => a.partition - b.partition)
    .map(({ partition, offset, timestampMs, key, value, headers }) => ({ partition, offset, timestampMs, key, value: value.toString('utf8'), headers }));

const values = (messages: readonly ReceivedMessage[]) => messages.map((m) => m.value.toString('utf8'));

describe('readRangesLean on the real broker', () => {
  it('reads plain records exactly as kafkajs does, with keys, null keys, empty values and headers', async () => {
    const topic = await createTopic(3);
    const writer = await producer();
    for (let round = 0; round < 5; round++) {
      await writer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 40 }, (_, i) => ({
          key: i % 7 === 0 ? null : `agreement-${i % 5}`,
          value: i % 11 === 0 ? null : `round-${round}-record-${i}`,
          headers: i % 3 === 0 ? { type: 'event', trace: `t${i}` } : undefined,
          partition: i % 3,
        })),
      });
    }
    const expected = await read(topic, kafkajsBus);
    expect(expected.messages).toHaveLength(200);
    const [viaLean, viaTiny, viaBus] = [await read(topic, lean), await read(topic, tiny), await read(topic, bus)];
    for (const got of [viaLean, viaTiny, viaBus]) {
      expect(plain(got.messages)).toEqual(plain(expected.messages));
      expect(got.positions).toEqual(new Map((await bus.partitionRanges(topic)).map((r) => [r.partition, r.end])));
    }
  }, 60_000);

  it('hands over committed transactions and never aborted records or markers, interleaved on several partitions, to the end of each', async () => {
    const topic = await createTopic(3);
    const [first, second, plainWriter] = await Promise.all([producer(`test-lean-a-${randomUUID()}`), producer(`test-lean-b-${randomUUID()}`), producer()]);
    const messages = (label: string, count: number) => Array.from({ length: count }, (_, i) => ({ key: `k${i % 4}`, value: `${label}-${i}`, partition: i % 3 }));
    const committedTx = async (label: string, count: number) => {
      const t = await first.transaction();
      await t.send({ topic, messages: messages(label, count) });
      await t.commit();
    };
    await plainWriter.send({ topic, messages: messages('plain-1', 9) });
    await committedTx('committed-1', 30);
    const aborted = await first.transaction();
    await aborted.send({ topic, messages: messages('aborted-1', 30) });
    await aborted.abort();
    // Two transactions open at once, with plain records between their records.
    const open1 = await first.transaction();
    const open2 = await second.transaction();
    for (let i = 0; i < 5; i++) {
      await open1.send({ topic, messages: messages(`aborted-2.${i}`, 6) });
      await plainWriter.send({ topic, messages: messages(`plain-2.${i}`, 3) });
      await open2.send({ topic, messages: messages(`committed-2.${i}`, 6) });
    }
    await open2.commit();
    await open1.abort();
    await committedTx('committed-3', 12);
    // The log of every partition ends with an abort marker.
    const last = await second.transaction();
    await last.send({ topic, messages: messages('aborted-3', 3) });
    await last.abort();

    const expected = await read(topic, kafkajsBus);
    const wanted = values(expected.messages);
    expect(wanted.some((v) => v.startsWith('aborted'))).toBe(false);
    expect(wanted).toHaveLength(9 + 30 + 15 + 30 + 12);
    const ends = new Map((await bus.partitionRanges(topic)).map((r) => [r.partition, r.end]));
    for (const config of [lean, tiny]) {
      const got = await read(topic, config);
      expect(plain(got.messages)).toEqual(plain(expected.messages));
      expect(got.positions).toEqual(ends);
    }
  }, 90_000);

  it('reads gzip batches beside uncompressed ones', async () => {
    const topic = await createTopic(2);
    const writer = await producer();
    const batch = (label: string) => Array.from({ length: 25 }, (_, i) => ({ key: `k${i}`, value: `${label}-${i}-${'x'.repeat(i * 10)}`, partition: i % 2 }));
    await writer.send({ topic, compression: CompressionTypes.GZIP, messages: batch('gzip-1') });
    await writer.send({ topic, messages: batch('none') });
    await writer.send({ topic, compression: CompressionTypes.GZIP, messages: batch('gzip-2') });
    const expected = await read(topic, kafkajsBus);
    expect(expected.messages).toHaveLength(75);
    expect(plain((await read(topic, lean)).messages)).toEqual(plain(expected.messages));
    expect(plain((await read(topic, tiny)).messages)).toEqual(plain(expected.messages));
  }, 60_000);

  it('reads a range that starts and ends inside a batch, and ranges of empty partitions', async () => {
    const topic = await createTopic(3);
    const writer = await producer();
    await writer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: `v${i}`, partition: 1 })) });
    const ranges = [
      { partition: 0, start: '0', end: '0' },
      { partition: 1, start: '3', end: '8' },
      { partition: 2, start: '0', end: '0' },
    ];
    const got = await read(topic, lean, ranges);
    expect(got.messages.map((m) => [m.partition, m.offset, m.value.toString('utf8')])).toEqual([3, 4, 5, 6, 7].map((o) => [1, String(o), `v${o}`]));
    expect(got.positions).toEqual(new Map([[1, '8']]));
    expect(plain(got.messages)).toEqual(plain((await read(topic, kafkajsBus, ranges)).messages));
    // Only empty partitions: nothing to read, no request needed.
    expect((await read(topic, lean, [{ partition: 0, start: '0', end: '0' }])).messages).toEqual([]);
  }, 60_000);

  it('stops at once when its signal is aborted, rejecting, and hands nothing over afterwards', async () => {
    const topic = await createTopic(2);
    const writer = await producer();
    for (let i = 0; i < 10; i++) await writer.send({ topic, messages: Array.from({ length: 200 }, (_, j) => ({ key: `k${j}`, value: `v${i}-${j}`, partition: j % 2 })) });
    const controller = new AbortController();
    let calls = 0;
    let callsAfterAbort = 0;
    const reading = readRangesLean(tiny, {
      topic,
      ranges: await bus.partitionRanges(topic),
      signal: controller.signal,
      onMessages: () => {
        if (controller.signal.aborted) callsAfterAbort++;
        if (++calls === 3) controller.abort();
      },
    });
    await expect(reading).rejects.toThrow(`read of ${topic} aborted`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toBe(3);
    expect(callsAfterAbort).toBe(0);
  }, 60_000);

  it('ends the read with the handler’s error', async () => {
    const topic = await createTopic(1);
    const writer = await producer();
    await writer.send({ topic, messages: [{ key: 'k', value: 'v' }] });
    await expect(readRangesLean(lean, { topic, ranges: await bus.partitionRanges(topic), onMessages: () => Promise.reject(new Error('handler broke')) })).rejects.toThrow('handler broke');
  }, 60_000);

  it('fails on a range that starts before the log does (OFFSET_OUT_OF_RANGE)', async () => {
    const topic = await createTopic(1);
    const writer = await producer();
    await writer.send({ topic, messages: [{ key: 'k', value: 'v' }] });
    const reading = read(topic, lean, [{ partition: 0, start: '5', end: '9' }]);
    await expect(reading).rejects.toThrow('OFFSET_OUT_OF_RANGE');
  }, 60_000);

  it('refuses a codec it does not read, handing over the rest of the ranges from there', async () => {
    // The broker compresses to the topic's codec whatever the producer sent.
    const topic = await createTopic(1, { 'compression.type': 'snappy' });
    const writer = await producer();
    await writer.send({ topic, messages: [{ key: 'k', value: 'snappy' }] });
    const ranges = await bus.partitionRanges(topic);
    const error = await read(topic, lean, ranges).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(LeanReadRefusedError);
    expect((error as LeanReadRefusedError).message).toContain('snappy');
    expect((error as LeanReadRefusedError).remaining).toEqual(ranges);
    // The bus hands it to kafkajs, which has no snappy codec either: its error, not the lean reader's.
    await expect(read(topic, bus, ranges)).rejects.toThrow('Snappy compression not implemented');
  }, 60_000);
});
