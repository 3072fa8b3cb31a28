import { randomUUID } from 'node:crypto';
import type { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { capturingLogger, createTestTopics, eventually, integrationEnv, readTopic, LogLine, silentLogger } from '@license-ledger/platform-testing';
import { LeaseProcessor, LedgerTopics } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { PartitionLedger } from './partition-ledger';
import { decodeLedgerRecord } from './records';
import { SnapshotStore } from './snapshot-store';
import { manifestMessage, sha256Hex } from './snapshot-records';

/**
 * Snapshots on the real broker: an instance that starts (or claims) after its partitions were
 * snapshotted folds only the records after the snapshot, and ends up with exactly the state (and
 * the decisions) of a fold of the whole log; a snapshot that fails its check is not used.
 */
const { brokers } = integrationEnv();
const PARTITIONS = 3;
const SNAPSHOT_EVERY = 25;

const command = (type: LeaseCommand['type'], data: Record<string, unknown>, requestId: string = randomUUID()): LeaseCommand =>
  ({ type, data, metadata: { requestId } }) as unknown as LeaseCommand;
const hash = (n: number): string => n.toString(16).padStart(64, '0');
const keyOf = (n: number): string => Buffer.alloc(32, 40 + n).toString('base64');

describe('partition snapshots on the real broker', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function topicsForTest(): Promise<LedgerTopics> {
    const names = await createTestTopics(brokers, 'test.snap', ['commands', 'events', 'replies', 'snapshots', 'key-directory'], PARTITIONS);
    return { commands: names.commands, events: names.events, replies: names.replies, snapshots: names.snapshots, keyDirectory: names['key-directory'] };
  }

  async function startInstance(topics: LedgerTopics, groupId: string, name: string): Promise<{ processor: LeaseProcessor; lines: LogLine[]; stop: () => Promise<void> }> {
    const lines: LogLine[] = [];
    const bus = new KafkaJsMessageBus({ clientId: name, brokers, logger: silentLogger });
    const processor = new LeaseProcessor({ bus, topics, groupId, instanceId: name, logger: capturingLogger(lines), snapshotPolicy: { everyRecords: SNAPSHOT_EVERY, everyMs: 3_600_000 } });
    await processor.start();
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      await processor.stop();
      await bus.close();
    };
    cleanups.push(stop);
    return { processor, lines, stop };
  }

  async function client(topics: LedgerTopics, groupId: string): Promise<(c: LeaseCommand) => Promise<LeaseOutcome>> {
    const bus = new KafkaJsMessageBus({ clientId: 'test-ops', brokers, logger: silentLogger });
    const ledgerClient = new LedgerClient({ bus, topics, instanceId: `ops-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    await ledgerClient.start();
    cleanups.push(async () => {
      await ledgerClient.stop();
      await bus.close();
    });
    return (c) => ledgerClient.sendUntilAnswered(c, 10_000, 6);
  }

  /** One agreement with a key and `locks` grants (and a denial past its licenses), as the first instance decides them. */
  async function history(send: (c: LeaseCommand) => Promise<LeaseOutcome>, agreementId: string, locks: number): Promise<Map<string, LeaseOutcome>> {
    const answered = new Map<string, LeaseOutcome>();
    expect(await send(command('OpenAgreement', { agreementId, name: agreementId, licenses: locks }))).toEqual({ kind: 'accepted' });
    expect(await send(command('BindKey', { agreementId, key: keyOf(0) }))).toEqual({ kind: 'accepted' });
    for (let n = 0; n <= locks; n++) {
      const requestId = `${agreementId}-grant-${n}`;
      answered.set(requestId, await send(command('AcquireLock', { agreementId, configHash: hash(n), holder: { key: keyOf(0), hostname: 'gw', processId: n, sessionId: `s-${n}` } }, requestId)));
    }
    return answered;
  }

  /** The events partition folded from offset 0, as an instance without snapshots has it. */
  async function fullFold(topics: LedgerTopics, partition: number): Promise<PartitionLedger> {
    const ledger = new PartitionLedger(partition);
    for (const message of await readTopic(brokers, topics.events)) if (message.partition === partition) ledger.applyFromLog(BigInt(message.offset), message.value);
    return ledger;
  }

  async function partitionOf(topics: LedgerTopics, agreementId: string): Promise<number> {
    for (const message of await readTopic(brokers, topics.events)) {
      const record = decodeLedgerRecord(message.value);
      if (record.type === 'AgreementOpened' && record.data.agreementId === agreementId) return message.partition;
    }
    throw new Error(`no AgreementOpened of ${agreementId}`);
  }

  async function snapshotCovering(topics: LedgerTopics, partition: number, atLeast: bigint): Promise<bigint> {
    const bus = new KafkaJsMessageBus({ clientId: 'test-snapshots', brokers, logger: silentLogger });
    cleanups.push(() => bus.close());
    const store = new SnapshotStore(bus, topics.snapshots ?? '', topics.events);
    return eventually(`a snapshot of partition ${partition} past offset ${atLeast}`, 30_000, async () => {
      const lookup = (await store.latestManifests([partition])).get(partition);
      return lookup?.kind === 'found' && BigInt(lookup.manifest.coveredOffset) >= atLeast ? BigInt(lookup.manifest.coveredOffset) : undefined;
    });
  }

  it('folds only the records after the snapshot on start and claim, and decides as a fold of the whole log', async () => {
    const topics = await topicsForTest();
    const groupId = `test-snap-${randomUUID().slice(0, 8)}`;
    const first = await startInstance(topics, groupId, 'lease-first');
    const send = await client(topics, groupId);
    const agreementId = `agr-${randomUUID().slice(0, 8)}`;
    const answered = await history(send, agreementId, 60);
    const partition = await partitionOf(topics, agreementId);
    const covered = await snapshotCovering(topics, partition, 40n);
    // A tail after the snapshot: decided by the first instance, folded by the next.
    for (let n = 100; n < 103; n++) {
      await send(command('AcquireLock', { agreementId, configHash: hash(n), holder: { key: keyOf(0), hostname: 'gw', processId: n, sessionId: `t-${n}` } }));
    }
    await first.stop();
    const logEnd = (await fullFold(topics, partition)).nextOffset;

    const second = await startInstance(topics, groupId, 'lease-second');
    // Started: the tail was read up to the log's end in one bounded read, before the state reader subscribed.
    expect(second.processor.ledger(partition).nextOffset).toBeGreaterThanOrEqual(logEnd);
    expect(Number(second.lines.find((line) => line.fields['event'] === 'caught_up')?.fields['records'])).toBeGreaterThan(0);
    const claimed = await eventually(`the second instance to claim partition ${partition}`, 60_000, async () =>
      second.lines.find((line) => line.fields['event'] === 'claimed' && line.fields['partition'] === partition),
    );
    const loaded = second.lines.find((line) => line.fields['event'] === 'snapshot_loaded' && line.fields['partition'] === partition);
    expect(BigInt(String(loaded?.fields['covered_offset']))).toBeGreaterThanOrEqual(covered);
    // Folded: the tail up to the end of the log plus the claim's marker, not the whole partition.
    const tail = Number(claimed.fields['tail_folded']);
    expect(tail).toBeGreaterThan(0);
    expect(tail).toBeLessThan(Number(logEnd - covered) + 5);
    expect(tail).toBeLessThan(Number(logEnd) / 3);
    expect(second.processor.foldedRecords(partition)).toBe(tail);

    // The same state as a fold of the whole log, chain position and remembered outcomes included...
    const fold = await fullFold(topics, partition);
    const loadedState = second.processor.ledger(partition).exportState();
    expect(loadedState.nextOffset).toBe(fold.nextOffset);
    expect(loadedState).toEqual(fold.exportState());
    // ...so the same decisions: a retry gets its first outcome, and new commands decide alike.
    for (const [requestId, outcome] of [...answered].slice(0, 5)) {
      const n = Number(requestId.split('-').pop());
      expect(await send(command('AcquireLock', { agreementId, configHash: hash(n), holder: { key: keyOf(0), hostname: 'gw', processId: n, sessionId: `s-${n}` } }, requestId))).toEqual(outcome);
    }
    const now = Date.now();
    const next = [
      command('AcquireLock', { agreementId, configHash: hash(500), holder: { key: keyOf(0), hostname: 'gw', processId: 1, sessionId: 'new' } }),
      command('AcquireLock', { agreementId, configHash: hash(1), holder: { key: keyOf(0), hostname: 'gw', processId: 1, sessionId: 's-1' } }),
      command('ReleaseLock', { agreementId, configHash: hash(2), holder: { key: keyOf(0), hostname: 'gw', processId: 2, sessionId: 's-2' } }),
    ];
    const restored = PartitionLedger.restore(loadedState);
    const folded = await fullFold(topics, partition);
    for (const c of next) expect(restored.decideAndApply(c, now)).toEqual(folded.decideAndApply(c, now));
  }, 180_000);

  it('falls back to folding the whole partition, with a log line, when the latest snapshot fails its check', async () => {
    const topics = await topicsForTest();
    const groupId = `test-snap-${randomUUID().slice(0, 8)}`;
    const first = await startInstance(topics, groupId, 'lease-first');
    const send = await client(topics, groupId);
    const agreementId = `agr-${randomUUID().slice(0, 8)}`;
    await history(send, agreementId, 40);
    const partition = await partitionOf(topics, agreementId);
    await snapshotCovering(topics, partition, 30n);
    await first.stop();

    // A manifest naming the latest chunks with a wrong SHA-256, written after the real one.
    const bus = new KafkaJsMessageBus({ clientId: 'test-corrupter', brokers, logger: silentLogger });
    cleanups.push(() => bus.close());
    const latest = (await new SnapshotStore(bus, topics.snapshots ?? '', topics.events).latestManifests([partition])).get(partition);
    if (latest?.kind !== 'found') throw new Error('no snapshot to corrupt');
    const corrupter = await bus.transactionalPublisher(`test-corrupter-${randomUUID()}`);
    cleanups.push(() => corrupter.close());
    const bad = manifestMessage({ ...latest.manifest, sha256: sha256Hex(Buffer.from('something else')) });
    await corrupter.inTransaction((tx) => tx.send(topics.snapshots ?? '', [{ ...bad, partition }]));

    const second = await startInstance(topics, groupId, 'lease-second');
    const claimed = await eventually(`the second instance to claim partition ${partition}`, 60_000, async () =>
      second.lines.find((line) => line.fields['event'] === 'claimed' && line.fields['partition'] === partition),
    );
    const unusable = second.lines.find((line) => line.fields['event'] === 'snapshot_unusable' && line.fields['partition'] === partition);
    expect(unusable?.fields['reason']).toBe('body fails its SHA-256 check');
    expect(unusable?.message).toContain('folded from the log');
    expect(second.lines.some((line) => line.fields['event'] === 'snapshot_loaded' && line.fields['partition'] === partition)).toBe(false);
    const fold = await fullFold(topics, partition);
    // Every record of the partition up to the claim's marker was folded.
    expect(Number(claimed.fields['tail_folded'])).toBeGreaterThanOrEqual(42);
    expect(second.processor.ledger(partition).exportState()).toEqual(fold.exportState());
    expect(await send(command('AcquireLock', { agreementId, configHash: hash(0), holder: { key: keyOf(0), hostname: 'gw', processId: 0, sessionId: 's-0' } }, `${agreementId}-grant-0`))).toMatchObject({ kind: 'granted', renewed: false });
  }, 180_000);
});
