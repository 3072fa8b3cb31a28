import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { LeaseCommand, LeaseEvent } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus, ProducerFencedError } from '@license-ledger/platform-kafka';
import { LeaseProcessor, LedgerTopics } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { decodeLedgerRecord, LedgerRecord } from './records';

const brokersVar = process.env['KAFKA_BROKERS'];
if (!brokersVar) throw new Error('KAFKA_BROKERS is not set: run `npm test`');
const brokers = brokersVar.split(',');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const PARTITIONS = 3;

async function createLedgerTopics(): Promise<LedgerTopics> {
  const id = randomUUID().slice(0, 8);
  const topics = { commands: `test.${id}.commands`, events: `test.${id}.events`, replies: `test.${id}.replies` };
  const admin = new Kafka({ clientId: 'test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: PARTITIONS })) });
    // Wait for leaders: a fresh topic is not writable for a moment.
    for (let i = 0; i < 100; i++) {
      const metadata = await admin.fetchTopicMetadata({ topics: Object.values(topics) }).catch(() => undefined);
      if (metadata?.topics.every((t) => t.partitions.length === PARTITIONS && t.partitions.every((p) => p.leader >= 0))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
  return topics;
}

async function readLedger(topic: string): Promise<LedgerRecord[]> {
  const kafka = new Kafka({ clientId: 'test-reader', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const records: Array<{ partition: number; offset: bigint; record: LedgerRecord }> = [];
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  // Read until every partition reached its end offset (transaction markers occupy the last
  // offsets, so "reached" means no record is left below the end), or until the log goes quiet.
  let idle: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    const positions = new Map<number, bigint>();
    const rearm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(resolve, 1_500);
    };
    rearm();
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ partition, offset: BigInt(message.offset), record: decodeLedgerRecord(message.value ?? Buffer.alloc(0)) });
        positions.set(partition, BigInt(message.offset));
        if (ends.every((e) => (positions.get(e.partition) ?? -1n) >= BigInt(e.high) - 1n)) resolve();
        else rearm();
      },
    });
  });
  await done;
  clearTimeout(idle);
  await consumer.disconnect();
  return records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset)).map((r) => r.record);
}

function command(type: LeaseCommand['type'], data: Record<string, unknown>, requestId: string = randomUUID()): LeaseCommand {
  return { type, data, metadata: { requestId } } as unknown as LeaseCommand;
}

const holder = (key: string, sessionId: string) => ({ key, hostname: 'gw-host', processId: 4242, sessionId });
const hash = (n: number): string => n.toString(16).padStart(64, '0');

interface Instance {
  readonly bus: KafkaJsMessageBus;
  readonly processor: LeaseProcessor;
}

async function startInstance(topics: LedgerTopics, groupId: string, instanceId: string): Promise<Instance> {
  const bus = new KafkaJsMessageBus({ clientId: instanceId, brokers, logger: silent });
  const processor = new LeaseProcessor({
    bus,
    topics,
    groupId,
    transactionalIdPrefix: `${groupId}.partition`,
    instanceId,
    logger: silent,
    clock: () => Date.now(),
    newId: () => randomUUID(),
    expiryCheckIntervalMs: 200,
  });
  await processor.start();
  return { bus, processor };
}

describe('LeaseProcessor on the real broker', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function system(instances: number): Promise<{ topics: LedgerTopics; groupId: string; nodes: Instance[]; client: LedgerClient }> {
    const topics = await createLedgerTopics();
    const groupId = `test-lease-${randomUUID().slice(0, 8)}`;
    const nodes: Instance[] = [];
    for (let i = 0; i < instances; i++) {
      const node = await startInstance(topics, groupId, `lease-${i}-${randomUUID().slice(0, 4)}`);
      nodes.push(node);
      cleanups.push(async () => {
        await node.processor.stop();
        await node.bus.close();
      });
    }
    const clientBus = new KafkaJsMessageBus({ clientId: 'test-ingress', brokers, logger: silent });
    const client = new LedgerClient({ bus: clientBus, topics, instanceId: `ingress-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await clientBus.close();
    });
    return { topics, groupId, nodes, client };
  }

  it('decides grants, a shared lock and denials, and answers a retried request with its first outcome', async () => {
    const { topics, client } = await system(1);
    const agreementId = `agr-${randomUUID()}`;
    const key = Buffer.alloc(32, 7).toString('base64');
    expect((await client.send(command('OpenAgreement', { agreementId, name: 'Acme', licenses: 2 }), 30_000)).kind).toBe('accepted');
    expect((await client.send(command('BindKey', { agreementId, key }), 30_000)).kind).toBe('accepted');

    const acquire = (n: number, session: string, requestId?: string): Promise<{ kind: string; reason?: string }> =>
      client.send(command('AcquireLock', { agreementId, configHash: hash(n), holder: holder(key, session) }, requestId), 30_000) as Promise<{ kind: string; reason?: string }>;
    const first = await acquire(1, 's1', 'req-first');
    expect(first.kind).toBe('granted');
    expect((await acquire(2, 's2')).kind).toBe('granted');
    expect(await acquire(3, 's3')).toMatchObject({ kind: 'denied', reason: 'no_available_licenses' });
    expect((await acquire(1, 's4')).kind).toBe('granted'); // shares the first lock
    expect(await acquire(1, 's1', 'req-first')).toEqual(first); // a retry: same outcome, nothing new

    const unknownKey = await client.send(
      command('AcquireLock', { agreementId, configHash: hash(9), holder: holder(Buffer.alloc(32, 9).toString('base64'), 's9') }),
      30_000,
    );
    expect(unknownKey).toMatchObject({ kind: 'denied', reason: 'no_license_agreement' });

    const records = await readLedger(topics.events);
    const events = records.filter((r): r is LeaseEvent => r.type !== 'PartitionClaimed');
    expect(events.filter((e) => e.metadata.requestId === 'req-first')).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual([
      'AgreementOpened',
      'KeyBound',
      'LockGranted',
      'LockGranted',
      'RequestDenied',
      'LockRenewed',
      'RequestDenied',
    ]);
  }, 120_000);

  it('hands partitions to the other instance when one stops, with state intact', async () => {
    const { nodes, client } = await system(2);
    const agreements = Array.from({ length: 6 }, () => `agr-${randomUUID()}`);
    const key = Buffer.alloc(32, 3).toString('base64');
    for (const agreementId of agreements) {
      await client.send(command('OpenAgreement', { agreementId, name: agreementId, licenses: 1 }), 30_000);
      await client.send(command('BindKey', { agreementId, key }), 30_000);
      expect((await client.send(command('AcquireLock', { agreementId, configHash: hash(1), holder: holder(key, 'a') }), 30_000)).kind).toBe('granted');
    }
    const [first, second] = nodes;
    if (!first || !second) throw new Error('two instances expected');
    await first.processor.stop();
    for (const agreementId of agreements) {
      // The survivor knows every lock the stopped instance granted.
      const outcome = await client.send(command('AcquireLock', { agreementId, configHash: hash(2), holder: holder(key, 'b') }), 30_000);
      expect(outcome).toMatchObject({ kind: 'denied', reason: 'no_available_licenses' });
    }
    expect(second.processor.ownedPartitions()).toEqual([0, 1, 2]);
  }, 120_000);

  it('fences an old writer: once a new producer takes the partition, the old one cannot write', async () => {
    const topics = await createLedgerTopics();
    const transactionalId = `test-fence-${randomUUID()}`;
    const oldBus = new KafkaJsMessageBus({ clientId: 'old-owner', brokers, logger: silent });
    const newBus = new KafkaJsMessageBus({ clientId: 'new-owner', brokers, logger: silent });
    cleanups.push(() => oldBus.close(), () => newBus.close());
    const oldWriter = await oldBus.transactionalPublisher(transactionalId);
    await oldWriter.inTransaction((tx) => tx.send(topics.events, [{ key: 'a', partition: 0, value: Buffer.from('{}') }]));
    const newWriter = await newBus.transactionalPublisher(transactionalId);
    await expect(
      oldWriter.inTransaction((tx) => tx.send(topics.events, [{ key: 'a', partition: 0, value: Buffer.from('{}') }])),
    ).rejects.toBeInstanceOf(ProducerFencedError);
    await newWriter.inTransaction((tx) => tx.send(topics.events, [{ key: 'a', partition: 0, value: Buffer.from('{}') }]));
    await Promise.allSettled([oldWriter.close(), newWriter.close()]);
  }, 60_000);
});
