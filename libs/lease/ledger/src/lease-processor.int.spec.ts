import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { isKeyEvent, KeyEvent, LeaseCommand, LeaseEvent } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus, ProducerFencedError, type Transaction } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { LeaseProcessor, LedgerTopics } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { decodeLedgerRecord, isLedgerEvent, LedgerRecord } from './records';

const { brokers } = integrationEnv();
const PARTITIONS = 3;

function createLedgerTopics(): Promise<LedgerTopics> {
  return createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], PARTITIONS);
}

async function readLedger(topic: string): Promise<LedgerRecord[]> {
  return (await readTopic(brokers, topic)).map((message) => decodeLedgerRecord(message.value));
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
  const bus = new KafkaJsMessageBus({ clientId: instanceId, brokers, logger: silentLogger });
  const processor = new LeaseProcessor({
    bus,
    topics,
    groupId,
    instanceId,
    logger: silentLogger,
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
    const clientBus = new KafkaJsMessageBus({ clientId: 'test-ingress', brokers, logger: silentLogger });
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
    const events = records.filter((r): r is LeaseEvent => isLedgerEvent(r) && !isKeyEvent(r));
    expect(events.filter((e) => e.metadata.requestId === 'req-first')).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual([
      'AgreementOpened',
      'KeyBindRequested',
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
    for (const [n, agreementId] of agreements.entries()) {
      // A key is bound to one agreement at a time: one per agreement.
      const key = Buffer.alloc(32, 30 + n).toString('base64');
      await client.send(command('OpenAgreement', { agreementId, name: agreementId, licenses: 1 }), 30_000);
      await client.send(command('BindKey', { agreementId, key }), 30_000);
      expect((await client.send(command('AcquireLock', { agreementId, configHash: hash(1), holder: holder(key, 'a') }), 30_000)).kind).toBe('granted');
    }
    const [first, second] = nodes;
    if (!first || !second) throw new Error('two instances expected');
    await first.processor.stop();
    for (const [n, agreementId] of agreements.entries()) {
      // The survivor knows every lock the stopped instance granted.
      const key = Buffer.alloc(32, 30 + n).toString('base64');
      const outcome = await client.send(command('AcquireLock', { agreementId, configHash: hash(2), holder: holder(key, 'b') }), 30_000);
      expect(outcome).toMatchObject({ kind: 'denied', reason: 'no_available_licenses' });
    }
    expect(second.processor.ownedPartitions()).toEqual([0, 1, 2]);
  }, 120_000);

  it('fences an old writer: once a new producer takes the partition, the old one cannot write', async () => {
    const topics = await createLedgerTopics();
    const transactionalId = `test-fence-${randomUUID()}`;
    const oldBus = new KafkaJsMessageBus({ clientId: 'old-owner', brokers, logger: silentLogger });
    const newBus = new KafkaJsMessageBus({ clientId: 'new-owner', brokers, logger: silentLogger });
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

  it('commits the consumed offset when it stops, and a new owner that consumes commands again decides none of them twice', async () => {
    const { topics, groupId, nodes, client } = await system(1);
    const agreementId = `agr-${randomUUID()}`;
    const key = Buffer.alloc(32, 5).toString('base64');
    await client.send(command('OpenAgreement', { agreementId, name: 'Acme', licenses: 1 }), 30_000);
    await client.send(command('BindKey', { agreementId, key }), 30_000);
    const acquire = (n: number, session: string) => client.send(command('AcquireLock', { agreementId, configHash: hash(n), holder: holder(key, session) }), 30_000);
    expect((await acquire(1, 'a')).kind).toBe('granted');
    expect(await acquire(2, 'b')).toMatchObject({ kind: 'denied' });

    const admin = new Kafka({ clientId: 'test-offsets', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    const expectAllCommitted = async (only?: number): Promise<Array<{ partition: number; high: string }>> => {
      const ends = await admin.fetchTopicOffsets(topics.commands);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topics.commands] });
      const committedAt = new Map(committed?.partitions.map((p) => [p.partition, p.offset]));
      // Past each partition's last command (follow-ups are written in transactions, so a partition
      // may end with a commit marker, which no consumer is handed).
      const next = new Map<number, string>();
      for (const m of await readTopic(brokers, topics.commands)) next.set(m.partition, String(BigInt(m.offset) + 1n));
      const used = [...next].filter(([partition]) => only === undefined || partition === only);
      expect(used.length).toBeGreaterThan(0);
      for (const [partition, offset] of used) expect([partition, committedAt.get(partition)]).toEqual([partition, offset]);
      return ends;
    };
    // Accepted without an event (the key is bound already): consumed again, it would be decided on
    // later state, so its own transaction commits the offset past it, before the answer. (The key's
    // partition, which reserved the key, commits once quiet: checked after the stop below.)
    expect((await client.send(command('BindKey', { agreementId, key }), 30_000)).kind).toBe('accepted');
    const opened = (await readTopic(brokers, topics.events)).find((m) => decodeLedgerRecord(m.value).type === 'AgreementOpened');
    await expectAllCommitted(opened?.partition);

    const [owner] = nodes;
    if (!owner) throw new Error('one instance expected');
    await owner.processor.stop();
    const ends = await expectAllCommitted();

    // As after a crash before any offset commit: the next owner consumes every command again. The
    // outcomes it rebuilt from the log answer them; nothing is decided a second time.
    await admin.setOffsets({ groupId, topic: topics.commands, partitions: ends.map((e) => ({ partition: e.partition, offset: '0' })) });
    // The agreement's events (one partition, in order); the key's partition decides nothing new either.
    const eventsOf = async (): Promise<Array<LeaseEvent | KeyEvent>> => (await readLedger(topics.events)).filter((r): r is LeaseEvent | KeyEvent => isLedgerEvent(r));
    const keyEventsBefore = (await eventsOf()).filter(isKeyEvent);
    const before = await eventsOf();
    const next = await startInstance(topics, groupId, `lease-next-${randomUUID().slice(0, 4)}`);
    cleanups.push(async () => {
      await next.processor.stop();
      await next.bus.close();
    });
    // Same agreement, same partition: answered only after the re-consumed commands before it.
    expect((await acquire(1, 'c')).kind).toBe('granted');
    const after = await eventsOf();
    const agreementStream = (events: Array<LeaseEvent | KeyEvent>) => events.filter((e) => !isKeyEvent(e));
    expect(agreementStream(after).slice(0, agreementStream(before).length)).toEqual(agreementStream(before));
    expect(agreementStream(after).slice(agreementStream(before).length).map((e) => e.type)).toEqual(['LockRenewed']);
    expect(after.filter(isKeyEvent)).toEqual(keyEventsBefore);
  }, 120_000);

  it('claims a partition again after a failed write and answers the commands whose decisions it lost', async () => {
    const topics = await createLedgerTopics();
    const groupId = `test-lease-${randomUUID().slice(0, 8)}`;
    const bus = new KafkaJsMessageBus({ clientId: 'lease-failing', brokers, logger: silentLogger });
    // The next transaction of any partition fails once (as a broker error would), after which
    // writes go through again.
    let failNext = false;
    const failingBus = Object.create(bus) as KafkaJsMessageBus;
    failingBus.transactionalPublisher = async (id: string) => {
      const publisher = await bus.transactionalPublisher(id);
      return {
        inTransaction: <T>(work: (transaction: Transaction) => Promise<T>): Promise<T> => {
          if (!failNext) return publisher.inTransaction(work);
          failNext = false;
          return publisher.inTransaction(async () => {
            throw new Error('injected write failure');
          });
        },
        close: () => publisher.close(),
      };
    };
    const processor = new LeaseProcessor({ bus: failingBus, topics, groupId, instanceId: 'lease-failing', logger: silentLogger });
    await processor.start();
    const clientBus = new KafkaJsMessageBus({ clientId: 'test-ingress', brokers, logger: silentLogger });
    const client = new LedgerClient({ bus: clientBus, topics, instanceId: `ingress-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await processor.stop();
      await Promise.all([clientBus.close(), bus.close()]);
    });

    const agreementId = `agr-${randomUUID()}`;
    const key = Buffer.alloc(32, 6).toString('base64');
    await client.send(command('OpenAgreement', { agreementId, name: 'Acme', licenses: 1 }), 30_000);
    await client.send(command('BindKey', { agreementId, key }), 30_000);
    failNext = true;
    // Its first decision is thrown away with the failed transaction; nothing else arrives on the
    // partition, yet it is decided again and answered.
    const outcome = await client.send(command('AcquireLock', { agreementId, configHash: hash(1), holder: holder(key, 'a') }, 'req-lost'), 20_000);
    expect(outcome.kind).toBe('granted');
    expect(failNext).toBe(false);
    expect(await client.send(command('AcquireLock', { agreementId, configHash: hash(2), holder: holder(key, 'b') }), 20_000)).toMatchObject({ kind: 'denied', reason: 'no_available_licenses' });
    const events = (await readLedger(topics.events)).filter((r): r is LeaseEvent => isLedgerEvent(r));
    expect(events.filter((e) => e.metadata.requestId === 'req-lost').map((e) => e.type)).toEqual(['LockGranted']);
  }, 120_000);
});
