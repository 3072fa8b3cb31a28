import { randomUUID } from 'node:crypto';
import { LeaseCommand, LeaseOutcome, LedgerEvent } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus, type Transaction } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { LeaseProcessor, LeaseProcessorLogger, LedgerTopics } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { decodeLedgerRecord, isLedgerEvent } from './records';

const { brokers } = integrationEnv();

const key = Buffer.alloc(32, 11).toString('base64');
const holder = { key, hostname: 'gw-host', processId: 1, sessionId: 's' };
const hash = (n: number): string => n.toString(16).padStart(64, '0');
const command = (type: LeaseCommand['type'], data: Record<string, unknown>, metadata: Record<string, unknown> = {}): LeaseCommand =>
  ({ type, data, metadata: { requestId: randomUUID(), ...metadata } }) as unknown as LeaseCommand;

/** Counts what the processor logs, by event name and level. */
function recordingLogger(): LeaseProcessorLogger & { readonly seen: string[] } {
  const seen: string[] = [];
  const note = (level: string) => (fields: object) => void seen.push(`${level} ${(fields as { event?: string }).event ?? '?'}`);
  return { seen, error: note('error'), warn: note('warn'), info: note('info'), debug: note('debug') };
}

async function ledgerEvents(topic: string): Promise<LedgerEvent[]> {
  return (await readTopic(brokers, topic)).map((m) => decodeLedgerRecord(m.value)).filter((r): r is LedgerEvent => isLedgerEvent(r));
}

describe('LeaseProcessor under faults and hostile input (issue 12)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function system(options: { clock?: () => number; wrap?: (bus: KafkaJsMessageBus) => KafkaJsMessageBus; logger?: LeaseProcessorLogger }) {
    const topics: LedgerTopics = await createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], 1);
    const groupId = `test-faults-${randomUUID().slice(0, 8)}`;
    const bus = new KafkaJsMessageBus({ clientId: 'lease-faults', brokers, logger: silentLogger });
    const processor = new LeaseProcessor({
      bus: options.wrap?.(bus) ?? bus,
      topics,
      groupId,
      instanceId: 'lease-faults',
      logger: options.logger ?? silentLogger,
      ...(options.clock ? { clock: options.clock } : {}),
    });
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
    await client.send(command('OpenAgreement', { agreementId, name: 'Acme', licenses: 100 }), 30_000);
    await client.send(command('BindKey', { agreementId, key }), 30_000);
    return { topics, client, agreementId, groupId };
  }

  /** A producer of another process taking partition 0's transactional id, as a stale claim of an earlier generation does. */
  async function staleClaimant(groupId: string): Promise<void> {
    const stale = new KafkaJsMessageBus({ clientId: 'stale-claimant', brokers, logger: silentLogger });
    cleanups.push(() => stale.close());
    const publisher = await stale.transactionalPublisher(`${groupId}.partition-0`);
    cleanups.push(() => publisher.close());
  }

  it('answers a request replayed after the old 5-minute window with its first outcome, deciding nothing again (item 4)', async () => {
    let skewMs = 0;
    const { topics, client, agreementId } = await system({ clock: () => Date.now() + skewMs });
    const stamped = Date.now() + 290_000;
    const acquire = (requestId: string, n: number, requestedAt: number, timeoutMs = 30_000): Promise<LeaseOutcome> =>
      client.send(command('AcquireLock', { agreementId, configHash: hash(n), holder }, { requestId, requestedAt }), timeoutMs);
    const first = await acquire('req-replayed', 1, stamped);
    expect(first.kind).toBe('granted');

    // 5 min 46 s later by the ledger's clock (the asker's deadline is stretched to match), another
    // request moves the partition's time on, then the replay comes (to another ingress).
    skewMs = 346_000;
    expect((await acquire('req-later', 2, Date.now() + skewMs, 400_000)).kind).toBe('granted');
    expect(await acquire('req-replayed', 1, stamped, 400_000)).toEqual(first);
    // A request stamped outside the window is refused and leaves nothing in the log.
    expect(await acquire('req-stale', 3, Date.now() + skewMs - 400_000, 400_000)).toMatchObject({ kind: 'denied', reason: 'invalid_command' });

    const events = await ledgerEvents(topics.events);
    expect(events.filter((e) => e.metadata.requestId === 'req-replayed').map((e) => e.type)).toEqual(['LockGranted']);
    expect(events.filter((e) => e.metadata.requestId === 'req-stale')).toEqual([]);
  }, 120_000);

  it('retries quietly a transaction the broker refuses without effect, without a re-claim (item 9)', async () => {
    // Every other transaction is refused the way the coordinator refuses one that comes while it
    // still writes the previous commit's markers: before anything is written.
    let transactions = 0;
    let refused = 0;
    const refusal = (): Error => Object.assign(new Error('The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'), {
      name: 'KafkaJSProtocolError',
      type: 'CONCURRENT_TRANSACTIONS',
      retriable: false,
    });
    const wrap = (bus: KafkaJsMessageBus): KafkaJsMessageBus => {
      const refusing = Object.create(bus) as KafkaJsMessageBus;
      refusing.transactionalPublisher = async (id: string) => {
        const publisher = await bus.transactionalPublisher(id);
        return {
          close: () => publisher.close(),
          inTransaction: <T>(work: (transaction: Transaction) => Promise<T>): Promise<T> =>
            publisher.inTransaction((tx) => {
              // The first request of the transaction (adding partitions or offsets) is refused.
              let refuse = transactions++ % 2 === 1;
              const gate = <R>(request: () => Promise<R>): Promise<R> => {
                if (!refuse) return request();
                refuse = false;
                refused++;
                return Promise.reject(refusal());
              };
              return work({
                send: (topic, messages) => gate(() => tx.send(topic, messages)),
                sendAll: (batches) => gate(() => tx.sendAll(batches)),
                commitConsumerOffsets: (group, offsets) => gate(() => tx.commitConsumerOffsets(group, offsets)),
              });
            }),
        };
      };
      return refusing;
    };
    const logger = recordingLogger();
    const { topics, client, agreementId } = await system({ wrap, logger });
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, n) => client.send(command('AcquireLock', { agreementId, configHash: hash(n), holder }, { requestId: `req-${n}` }), 30_000)),
    );
    expect(outcomes.map((o) => o.kind)).toEqual(Array.from({ length: 40 }, () => 'granted'));
    expect(refused).toBeGreaterThan(0);
    expect(logger.seen).not.toContain('error write_failed');
    expect(logger.seen).not.toContain('warn reclaiming');
    expect(logger.seen.filter((line) => line === 'info claimed')).toHaveLength(1);
    expect(logger.seen).toContain('debug write_retry');
    const events = await ledgerEvents(topics.events);
    for (let n = 0; n < 40; n++) expect(events.filter((e) => e.metadata.requestId === `req-${n}`)).toHaveLength(1);
  }, 120_000);

  it('claims a partition again when a stale claim fenced its claim, and answers the waiting commands', async () => {
    let fencedOnce = false;
    let groupIdOf: string | undefined;
    const wrap = (bus: KafkaJsMessageBus): KafkaJsMessageBus => {
      const racing = Object.create(bus) as KafkaJsMessageBus;
      racing.transactionalPublisher = async (id: string) => {
        const publisher = await bus.transactionalPublisher(id);
        if (!fencedOnce) {
          // Right after the claim's producer started, another one starts with its id.
          fencedOnce = true;
          groupIdOf = id.slice(0, id.lastIndexOf('.partition-'));
          await staleClaimant(groupIdOf);
        }
        return publisher;
      };
      return racing;
    };
    const logger = recordingLogger();
    // system() opens the agreement and binds the key: both are answered only once a claim succeeds.
    const { topics, client, agreementId, groupId } = await system({ wrap, logger });
    expect(groupIdOf).toBe(groupId);
    expect(logger.seen).toContain('warn claim_failed');
    expect(logger.seen.filter((line) => line === 'info claimed')).toHaveLength(1);
    expect((await client.send(command('AcquireLock', { agreementId, configHash: hash(1), holder }, { requestId: 'after-fenced-claim' }), 30_000)).kind).toBe('granted');
    const events = await ledgerEvents(topics.events);
    expect(events.map((e) => e.type)).toEqual(['AgreementOpened', 'KeyBindRequested', 'KeyReserved', 'KeyBound', 'LockGranted']);
  }, 120_000);

  it('claims a partition again when a stale claim fenced its writer, and decides the fenced commands once', async () => {
    const logger = recordingLogger();
    const { topics, client, agreementId, groupId } = await system({ logger });
    await staleClaimant(groupId);
    // The owner's next transaction is fenced; no rebalance follows, as none is on its way.
    const outcome = await client.send(command('AcquireLock', { agreementId, configHash: hash(1), holder }, { requestId: 'fenced-write' }), 30_000);
    expect(outcome.kind).toBe('granted');
    expect(logger.seen).toContain('error fenced');
    expect(logger.seen).toContain('warn reclaiming');
    expect(logger.seen.filter((line) => line === 'info claimed')).toHaveLength(2);
    const events = await ledgerEvents(topics.events);
    expect(events.filter((e) => e.metadata.requestId === 'fenced-write').map((e) => e.type)).toEqual(['LockGranted']);
  }, 120_000);
});
