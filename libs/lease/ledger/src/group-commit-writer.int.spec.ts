import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { LedgerEvent } from '@license-ledger/lease-domain';
import { DeadLetteredRecord, KafkaJsMessageBus, ProducerFencedError, ReceivedMessage, Transaction, TransactionalPublisher } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { SigningKey, systemRandom } from '@license-ledger/protocol-crypto';
import { ChainTracker, initialChainPosition } from './chain-position';
import { ChainVerifier } from './chain-verifier';
import { Checkpoints } from './chain-writer';
import { GroupCommitWriter } from './group-commit-writer';
import { decodeLedgerRecord } from './records';

const { brokers } = integrationEnv();
const PARTITION = 1;

const opened = (requestId: string): LedgerEvent =>
  ({ type: 'AgreementOpened', data: { agreementId: `agr-${requestId}`, name: 'Acme', licenses: 1, bounds: { minMs: 1, maxMs: 3, defaultMs: 2 } }, metadata: { requestId, at: Date.now() } }) as LedgerEvent;

function command(topic: string, offset: number): ReceivedMessage {
  return { topic, partition: PARTITION, offset: String(offset), timestampMs: Date.now(), key: 'agr', value: Buffer.from('{}'), headers: {} };
}

/** The real publisher, counting its transactions; `failNext` makes the next one fail after it has sent its records. */
function observed(publisher: TransactionalPublisher): TransactionalPublisher & { transactions: number; failNext: boolean } {
  const wrapper = {
    transactions: 0,
    failNext: false,
    close: () => publisher.close(),
    inTransaction: <T>(work: (transaction: Transaction) => Promise<T>): Promise<T> => {
      wrapper.transactions++;
      const fail = wrapper.failNext;
      wrapper.failNext = false;
      return publisher.inTransaction(async (tx) => {
        const result = await work(tx);
        if (fail) throw new Error('injected failure after the records were sent');
        return result;
      });
    },
  };
  return wrapper;
}

describe('GroupCommitWriter on the real broker', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function setUp(checkpoints?: Checkpoints) {
    const topics = await createTestTopics(brokers, 'writer', ['commands', 'events', 'replies', 'dead'], 2);
    const groupId = `test-writer-${randomUUID().slice(0, 8)}`;
    const bus = new KafkaJsMessageBus({ clientId: 'test-writer', brokers, logger: silentLogger });
    const admin = new Kafka({ clientId: 'test-writer-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const publisher = observed(await bus.transactionalPublisher(`${groupId}.partition-${PARTITION}`));
    cleanups.push(async () => {
      await publisher.close();
      await admin.disconnect();
      await bus.close();
    });
    const written: bigint[] = [];
    const failures: Array<{ error: unknown; resumeAt: bigint | undefined }> = [];
    const deadLettered: DeadLetteredRecord[] = [];
    const chain = new ChainTracker(initialChainPosition(PARTITION));
    const writer = new GroupCommitWriter({
      chain,
      checkpoints,
      partition: PARTITION,
      topics,
      groupId,
      deadLetterTopic: topics.dead,
      publisher,
      ownedSince: performance.now(),
      logger: silentLogger,
      onDeadLetter: (record) => deadLettered.push(record),
      onWritten: (end) => written.push(end),
      onFailed: (error, resumeAt) => failures.push({ error, resumeAt }),
    });
    const committedOffset = async (): Promise<string | undefined> => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.commands] });
      const offset = offsets?.partitions.find((p) => p.partition === PARTITION)?.offset;
      return offset === '-1' ? undefined : offset;
    };
    const source = { topic: topics.commands, partition: PARTITION };
    return { topics, groupId, bus, publisher, writer, written, failures, deadLettered, committedOffset, source, chain };
  }

  it('writes a batch in one transaction with the consumed offset, and gathers what comes meanwhile into the next', async () => {
    const { topics, publisher, writer, written, deadLettered, committedOffset, source } = await setUp();
    const first = writer.batch();
    first.consume(source, [command(topics.commands, 0)]);
    first.add(command(topics.commands, 0), { kind: 'decided', events: [opened('r0')], replies: [{ key: 'ingress-1', value: Buffer.from('"r0"') }], commands: [], unrecorded: true });
    writer.flush();
    // While the first transaction is in flight, two more rounds of decisions join one batch.
    const second = writer.batch();
    expect(second).not.toBe(first);
    for (const offset of [1, 2]) {
      const batch = writer.batch();
      expect(batch).toBe(second);
      batch.consume(source, [command(topics.commands, offset)]);
      batch.add(command(topics.commands, offset), { kind: 'decided', events: [opened(`r${offset}`)], replies: [], commands: [{ key: 'key-1', value: Buffer.from(`"f${offset}"`) }], unrecorded: false });
      writer.flush();
    }
    second.add(command(topics.commands, 3), { kind: 'deadLetter', reason: 'malformed command: test' });
    second.consume(source, [command(topics.commands, 3)]);
    await Promise.all([first.written, second.written]);
    await writer.settled();

    expect(publisher.transactions).toBe(2);
    const events = (await readTopic(brokers, topics.events)).filter((m) => m.partition === PARTITION);
    expect(events.map((m) => (decodeLedgerRecord(m.value) as LedgerEvent).metadata.requestId)).toEqual(['r0', 'r1', 'r2']);
    // Each transaction ends with a commit marker, which takes an offset of its own.
    expect(written).toEqual([1n, 4n]);
    expect((await readTopic(brokers, topics.replies)).map((m) => m.value.toString())).toEqual(['"r0"']);
    expect((await readTopic(brokers, topics.commands)).map((m) => m.value.toString())).toEqual(['"f1"', '"f2"']);
    expect((await readTopic(brokers, topics.dead)).map((m) => m.headers['dead-letter.offset'])).toEqual(['3']);
    expect(deadLettered.map((r) => r.offset)).toEqual(['3']);
    // Both batches asked for their offsets (an unrecorded acceptance, a dead letter).
    expect(await committedOffset()).toBe('4');
    expect(writer.hasUncommittedOffsets()).toBe(false);
  }, 60_000);

  it('links each event to the one before it across transactions, and signs a checkpoint with the batch that makes it due', async () => {
    let now = Date.UTC(2026, 0, 1);
    const key = SigningKey.generate(systemRandom);
    const { topics, publisher, writer, written, chain } = await setUp({ signer: key, policy: { everyRecords: 3, everyMs: 60_000 }, clock: () => now });
    const writeEvents = async (...requestIds: string[]): Promise<void> => {
      const batch = writer.batch();
      batch.addEvents(requestIds.map(opened));
      writer.flush();
      await batch.written;
      await writer.settled();
    };
    // The partition's first batch: no checkpoint yet, so one is due at once.
    await writeEvents('a0', 'a1');
    await writeEvents('b0');
    // Four unsigned records with this batch: signed with it.
    await writeEvents('c0', 'c1', 'c2');
    await writeEvents('d0');
    expect(writer.checkpointDueWhileQuiet()).toBe(false);
    // Quiet, with a record unsigned: a minute later a checkpoint goes alone.
    now += 60_000;
    expect(writer.checkpointDueWhileQuiet()).toBe(true);
    writer.checkpointSoon();
    await writer.settled();
    expect(publisher.transactions).toBe(5);

    const records = (await readTopic(brokers, topics.events)).filter((m) => m.partition === PARTITION);
    expect(records.map((m) => decodeLedgerRecord(m.value).type)).toEqual([
      'AgreementOpened',
      'AgreementOpened',
      'LedgerCheckpoint',
      'AgreementOpened',
      'AgreementOpened',
      'AgreementOpened',
      'AgreementOpened',
      'LedgerCheckpoint',
      'AgreementOpened',
      'LedgerCheckpoint',
    ]);
    // Commit markers take offsets too: each transaction's records end one before the next begins.
    expect(written).toEqual([3n, 5n, 10n, 12n, 14n]);
    const verifier = new ChainVerifier({ trustedKeys: [key.publicKey] });
    verifier.begin(PARTITION, 0n);
    for (const m of records) verifier.observe(PARTITION, BigInt(m.offset), m.value);
    expect(verifier.problems).toEqual([]);
    expect(verifier.summaries()).toMatchObject([{ partition: PARTITION, records: 10, chainStart: 0n, checkpoints: 3, unsigned: 0 }]);
    expect(chain.position()).toMatchObject({ sinceCheckpoint: 0, lastCheckpointAt: now });
  }, 60_000);

  it('leaves a recent offset uncommitted until asked, then commits it in a transaction of its own', async () => {
    const { topics, publisher, writer, committedOffset, source } = await setUp();
    const first = writer.batch();
    first.consume(source, [command(topics.commands, 0)]);
    first.add(command(topics.commands, 0), { kind: 'decided', events: [opened('r0')], replies: [], commands: [], unrecorded: false });
    first.commitOffsetsWithIt();
    writer.flush();
    await first.written;
    const next = writer.batch();
    next.consume(source, [command(topics.commands, 1)]);
    next.add(command(topics.commands, 1), { kind: 'decided', events: [opened('r1')], replies: [], commands: [], unrecorded: false });
    writer.flush();
    await next.written;
    // Committed with the first batch only, unless 100 ms passed (then it went with the second).
    const committed = await committedOffset();
    if (committed === '1') {
      expect(writer.hasUncommittedOffsets()).toBe(true);
      writer.commitOffsetsSoon();
      await writer.settled();
    }
    expect(await committedOffset()).toBe('2');
    expect(writer.hasUncommittedOffsets()).toBe(false);
    expect(publisher.transactions).toBe(committed === '1' ? 3 : 2);
  }, 60_000);

  it('aborts a failed transaction: nothing of it is read, no offset moves, and everything pending fails with it', async () => {
    const { topics, publisher, writer, failures, committedOffset, source } = await setUp();
    const failing = writer.batch();
    failing.consume(source, [command(topics.commands, 5)]);
    failing.add(command(topics.commands, 5), { kind: 'decided', events: [opened('lost')], replies: [{ key: 'ingress-1', value: Buffer.from('"lost"') }], commands: [], unrecorded: true });
    publisher.failNext = true;
    writer.flush();
    const later = writer.batch();
    later.consume(source, [command(topics.commands, 6)]);
    later.add(command(topics.commands, 6), { kind: 'decided', events: [opened('later')], replies: [], commands: [], unrecorded: false });
    writer.flush();

    await expect(failing.written).rejects.toThrow('injected failure');
    await expect(later.written).rejects.toThrow('injected failure');
    expect(failures.map((f) => f.resumeAt)).toEqual([5n]);
    await writer.settled();
    expect(publisher.transactions).toBe(1);
    // After a failure the writer writes nothing more: a batch added now fails at once.
    const after = writer.batch();
    after.addEvents([opened('after')]);
    writer.flush();
    await expect(after.written).rejects.toThrow('injected failure');
    expect(publisher.transactions).toBe(1);

    expect(await readTopic(brokers, topics.events)).toEqual([]);
    expect(await readTopic(brokers, topics.replies)).toEqual([]);
    expect(await committedOffset()).toBeUndefined();
  }, 60_000);

  it('reports a fencing: a newer producer of the partition took over, and nothing is written', async () => {
    const { topics, groupId, bus, writer, failures, source } = await setUp();
    const successor = await bus.transactionalPublisher(`${groupId}.partition-${PARTITION}`);
    cleanups.push(() => successor.close());
    const batch = writer.batch();
    batch.consume(source, [command(topics.commands, 0)]);
    batch.add(command(topics.commands, 0), { kind: 'decided', events: [opened('fenced')], replies: [], commands: [], unrecorded: false });
    writer.flush();
    await expect(batch.written).rejects.toBeInstanceOf(ProducerFencedError);
    expect(failures.map((f) => [f.error instanceof ProducerFencedError, f.resumeAt])).toEqual([[true, 0n]]);
    expect(await readTopic(brokers, topics.events)).toEqual([]);
  }, 60_000);
});
