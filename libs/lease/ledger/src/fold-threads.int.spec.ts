import { randomUUID } from 'node:crypto';
import { AgreementState, decide, evolve, initialState, LeaseCommand, LedgerEvent } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus, PartitionRange } from '@license-ledger/platform-kafka';
import { capturingLogger, createTestTopics, integrationEnv, readTopic, LogLine, silentLogger } from '@license-ledger/platform-testing';
import { initialChainPosition } from './chain-position';
import { chainRecords } from './chain-writer';
import { FoldedPartition, foldRanges, FoldThreadsConfig } from './fold-threads';
import { LeaseProcessor } from './lease-processor';
import { PartitionLedger } from './partition-ledger';

/**
 * Fold threads on the real broker: partitions folded on threads (each reading with connections of
 * its own, its result moved back) hold exactly the state a fold on one thread has, remembered
 * decisions and chain position included; a thread that cannot read leaves its partitions to this
 * thread; a lease instance starting on a log without snapshots folds on threads.
 */
const { brokers } = integrationEnv();
const PARTITIONS = 4;
const AGREEMENTS = 8;

const keyOf = (n: number): string => Buffer.alloc(32, 60 + n).toString('base64');

/** A ledger decided by the real decider: agreements opened and bound, gateways acquiring, renewing and releasing. */
function ledgerEvents(): LedgerEvent[] {
  const states = new Map<string, AgreementState>();
  const events: LedgerEvent[] = [];
  let now = Date.now() - 60_000;
  const run = (command: LeaseCommand): void => {
    const state = states.get(command.data.agreementId) ?? initialState(command.data.agreementId);
    for (const event of decide(command, state, now)) {
      states.set(command.data.agreementId, evolve(state, event));
      events.push(event);
    }
  };
  for (let a = 0; a < AGREEMENTS; a++) {
    const agreementId = `fold-${a}`;
    run({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 5 }, metadata: { requestId: randomUUID() } });
    run({ type: 'BindReservedKey', data: { agreementId, key: keyOf(a) }, metadata: { requestId: randomUUID() } });
  }
  for (let n = 0; n < 600; n++) {
    now += 50;
    const a = n % AGREEMENTS;
    const lock = (n * 7) % 7;
    const data = {
      agreementId: `fold-${a}`,
      configHash: (a * 100 + lock).toString(16).padStart(64, '0'),
      holder: { key: keyOf(a), hostname: `gw-${lock}`, processId: lock, sessionId: `s-${a}-${lock}` },
    };
    run(n % 11 === 0 ? { type: 'ReleaseLock', data, metadata: { requestId: randomUUID() } } : { type: 'AcquireLock', data, metadata: { requestId: randomUUID() } });
  }
  return events;
}

describe('fold threads on the real broker', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  function newBus(name: string): KafkaJsMessageBus {
    const bus = new KafkaJsMessageBus({ clientId: name, brokers, logger: silentLogger });
    cleanups.push(() => bus.close());
    return bus;
  }

  /** The ledger written as owners write it: chained records, each agreement on its partition, in transactions. */
  async function writeLedger(topic: string): Promise<void> {
    const byPartition = new Map<number, LedgerEvent[]>();
    for (const event of ledgerEvents()) {
      const partition = Number(event.data.agreementId.slice('fold-'.length)) % PARTITIONS;
      byPartition.set(partition, [...(byPartition.get(partition) ?? []), event]);
    }
    const writer = await newBus('fold-writer').transactionalPublisher(`fold-writer-${randomUUID()}`);
    cleanups.push(() => writer.close());
    for (const [partition, events] of byPartition) {
      let position = initialChainPosition(partition);
      for (let start = 0; start < events.length; start += 50) {
        const chained = chainRecords(partition, position, events.slice(start, start + 50), undefined);
        position = chained.end;
        await writer.inTransaction((tx) => tx.send(topic, chained.records.map((record) => ({ key: record.key, value: record.value, partition }))));
      }
    }
  }

  /** Records per partition (transaction markers take offsets too, so offsets do not count them). */
  async function recordCounts(topic: string): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const message of await readTopic(brokers, topic)) counts.set(message.partition, (counts.get(message.partition) ?? 0) + 1);
    return counts;
  }

  /** Each partition folded from the start on one thread, record by record. */
  async function foldedOnOneThread(topic: string): Promise<Map<number, PartitionLedger>> {
    const ledgers = new Map<number, PartitionLedger>();
    for (const message of await readTopic(brokers, topic)) {
      let ledger = ledgers.get(message.partition);
      if (!ledger) ledgers.set(message.partition, (ledger = new PartitionLedger(message.partition)));
      ledger.applyFromLog(BigInt(message.offset), message.value);
    }
    return ledgers;
  }

  async function foldWith(topic: string, config: FoldThreadsConfig, lines: LogLine[]): Promise<{ here: Map<number, PartitionLedger>; threads: Map<number, FoldedPartition> }> {
    const bus = newBus('fold-here');
    const here = new Map<number, PartitionLedger>();
    const ranges: PartitionRange[] = await bus.partitionRanges(topic);
    const threads = await foldRanges({
      config,
      topic,
      ranges,
      movable: () => true,
      logger: capturingLogger(lines),
      readHere: (mine) =>
        bus.readRanges({
          topic,
          ranges: mine,
          onMessages: (messages) => {
            const partition = messages[0]?.partition ?? -1;
            let ledger = here.get(partition);
            if (!ledger) here.set(partition, (ledger = new PartitionLedger(partition)));
            ledger.applyBatchFromLog(messages);
          },
        }),
    });
    return { here, threads };
  }

  it('folds on threads exactly the states one thread folds, remembered decisions and chain included', async () => {
    const { events: topic } = await createTestTopics(brokers, 'test.fold', ['events'], PARTITIONS);
    await writeLedger(topic);
    const lines: LogLine[] = [];
    const { here, threads } = await foldWith(topic, { bus: { clientId: 'fold-test', brokers }, threads: 3, minRecords: 0 }, lines);

    // Two threads besides this one, over four partitions: both folded, none of it twice.
    expect(threads.size).toBeGreaterThanOrEqual(2);
    expect(here.size).toBeGreaterThanOrEqual(1);
    expect([...threads.keys()].filter((partition) => here.has(partition))).toEqual([]);
    expect(lines.filter((line) => line.fields['event'] === 'fold_threads_failed')).toEqual([]);
    const expected = await foldedOnOneThread(topic);
    const counts = await recordCounts(topic);
    expect(new Set([...here.keys(), ...threads.keys()])).toEqual(new Set(expected.keys()));
    for (const [partition, { ledger, applied }] of threads) {
      const reference = expected.get(partition);
      expect(applied).toBe(counts.get(partition));
      expect(ledger.exportState()).toEqual(reference?.exportState());
      // Moved, not merely equal: it answers and decides as the reference does.
      const requestId = [...(reference?.exportState().outcomes.keys() ?? [])].pop() ?? '';
      expect(ledger.outcomeOf(requestId)).toEqual(reference?.outcomeOf(requestId));
    }
    for (const [partition, ledger] of here) expect(ledger.exportState()).toEqual(expected.get(partition)?.exportState());
  }, 120_000);

  it('leaves the partitions of a thread that cannot read to this thread, with a log line', async () => {
    const { events: topic } = await createTestTopics(brokers, 'test.fold', ['events'], PARTITIONS);
    await writeLedger(topic);
    const lines: LogLine[] = [];
    // Nothing listens there: the threads' reads fail once their patience for a leader runs out.
    const unreachable = { clientId: 'fold-test', brokers: ['127.0.0.1:9'], leaderPatienceMs: 500 };
    const { here, threads } = await foldWith(topic, { bus: unreachable, threads: 2, minRecords: 0 }, lines);

    expect(threads.size).toBe(0);
    expect(lines.find((line) => line.fields['event'] === 'fold_threads_failed')?.message).toContain('on this thread');
    const expected = await foldedOnOneThread(topic);
    expect(here.size).toBe(expected.size);
    for (const [partition, ledger] of here) expect(ledger.exportState()).toEqual(expected.get(partition)?.exportState());
  }, 120_000);

  it('folds a lease instance\'s partitions without snapshots on threads at start', async () => {
    const names = await createTestTopics(brokers, 'test.fold', ['commands', 'events', 'replies'], PARTITIONS);
    await writeLedger(names.events);
    // The log as written; once the instance owns partitions, its claim markers come after it.
    const written = await recordCounts(names.events);
    const expected = await foldedOnOneThread(names.events);
    const lines: LogLine[] = [];
    const processor = new LeaseProcessor({
      bus: newBus('fold-lease'),
      topics: { commands: names.commands, events: names.events, replies: names.replies },
      groupId: `test-fold-${randomUUID().slice(0, 8)}`,
      instanceId: 'fold-lease',
      logger: capturingLogger(lines),
      foldThreads: { bus: { clientId: 'fold-lease-threads', brokers }, threads: 2, minRecords: 0 },
    });
    await processor.start();
    cleanups.push(() => processor.stop());

    const caughtUp = lines.find((line) => line.fields['event'] === 'caught_up');
    expect(Number(caughtUp?.fields['on_threads'])).toBeGreaterThan(0);
    expect(caughtUp?.fields['records']).toBe([...written.values()].reduce((sum, n) => sum + n, 0));
    // Its state as one thread folds it (a claim marker moves the offset and the chain on, nothing else).
    const sameState = ({ agreements, keys, outcomes, decidedOrder }: ReturnType<PartitionLedger['exportState']>) => ({ agreements, keys, outcomes, decidedOrder });
    for (const [partition, reference] of expected) {
      expect(sameState(processor.ledger(partition).exportState())).toEqual(sameState(reference.exportState()));
      expect(processor.foldedRecords(partition)).toBeGreaterThanOrEqual(written.get(partition) ?? Number.NaN);
    }
  }, 120_000);
});
