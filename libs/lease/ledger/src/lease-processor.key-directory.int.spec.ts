import { randomUUID } from 'node:crypto';
import type { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus, MessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { KeyBindingDirectory, KeyDirectory } from './key-directory';
import { LeaseProcessor, LedgerTopics } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { decodeLedgerRecord, isLedgerEvent } from './records';

/**
 * The key directory topic on the real broker: what an ingress loads from it (the live bindings) is
 * what the whole history's fold says, through binds, a revoke and a bind elsewhere, and a closed
 * agreement; and a ledger written before the topic existed gets its bindings there at the next claim.
 */
const { brokers } = integrationEnv();
const PARTITIONS = 3;

const command = (type: LeaseCommand['type'], data: Record<string, unknown>): LeaseCommand => ({ type, data, metadata: { requestId: randomUUID() } }) as unknown as LeaseCommand;
const keyOf = (n: number): string => Buffer.alloc(32, 70 + n).toString('base64');

describe('the key directory topic on the real broker', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function startInstance(topics: LedgerTopics, groupId: string, name: string): Promise<() => Promise<void>> {
    const bus = new KafkaJsMessageBus({ clientId: name, brokers, logger: silentLogger });
    const processor = new LeaseProcessor({ bus, topics, groupId, instanceId: name, logger: silentLogger });
    await processor.start();
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      await processor.stop();
      await bus.close();
    };
    cleanups.push(stop);
    return stop;
  }

  async function ops(topics: LedgerTopics, groupId: string): Promise<(c: LeaseCommand) => Promise<LeaseOutcome>> {
    const bus = new KafkaJsMessageBus({ clientId: 'test-ops', brokers, logger: silentLogger });
    const client = new LedgerClient({ bus, topics, instanceId: `ops-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await bus.close();
    });
    return (c) => client.sendUntilAnswered(c, 10_000, 6);
  }

  /** What an ingress loads: the directory topic's records, partition by partition in offset order. */
  async function loadDirectory(topic: string): Promise<Map<string, string>> {
    const directory = new KeyBindingDirectory((message, error) => {
      throw new Error(`malformed key binding at ${message.partition}/${message.offset}: ${String(error)}`);
    });
    directory.applyRecords(await readTopic(brokers, topic));
    return directory.entries();
  }

  /** What the whole history says: KeyDirectory's fold of every event. */
  async function foldHistory(topic: string): Promise<Map<string, string>> {
    // Fed by hand: never started, so it reads nothing itself.
    const fold = new KeyDirectory({ bus: {} as MessageBus, eventsTopic: topic, groupId: 'unused' });
    for (const message of await readTopic(brokers, topic)) {
      const record = decodeLedgerRecord(message.value);
      if (isLedgerEvent(record)) fold.apply(record);
    }
    return fold.entries();
  }

  it('holds the bindings the history folds to: binds, revoke and bind elsewhere, a closed agreement', async () => {
    const names = await createTestTopics(brokers, 'test.keydir', ['commands', 'events', 'replies', 'key-directory'], PARTITIONS);
    const topics: LedgerTopics = { commands: names.commands, events: names.events, replies: names.replies, keyDirectory: names['key-directory'] };
    const groupId = `test-keydir-${randomUUID().slice(0, 8)}`;
    await startInstance(topics, groupId, 'lease-a');
    await startInstance(topics, groupId, 'lease-b');
    const send = await ops(topics, groupId);
    const [acme, globex, initech] = ['acme', 'globex', 'initech'].map((name) => `${name}-${randomUUID().slice(0, 6)}`) as [string, string, string];
    for (const id of [acme, globex, initech]) expect(await send(command('OpenAgreement', { agreementId: id, name: id, licenses: 1 }))).toEqual({ kind: 'accepted' });
    const binds: Array<[string, number]> = [[acme, 0], [acme, 1], [globex, 2], [initech, 3], [initech, 4]];
    for (const [agreementId, key] of binds) expect(await send(command('BindKey', { agreementId, key: keyOf(key) }))).toEqual({ kind: 'accepted' });
    expect(await send(command('RevokeKey', { agreementId: acme, key: keyOf(1) }))).toEqual({ kind: 'accepted' });
    expect(await send(command('BindKey', { agreementId: globex, key: keyOf(1) }))).toEqual({ kind: 'accepted' });
    expect(await send(command('CloseAgreement', { agreementId: initech }))).toEqual({ kind: 'accepted' });
    // Allowed on a closed agreement: the key is free for another.
    expect(await send(command('RevokeKey', { agreementId: initech, key: keyOf(4) }))).toEqual({ kind: 'accepted' });
    expect(await send(command('BindKey', { agreementId: acme, key: keyOf(4) }))).toEqual({ kind: 'accepted' });

    const expected = new Map([
      [keyOf(0), acme],
      [keyOf(1), globex],
      [keyOf(2), globex],
      [keyOf(4), acme],
    ]);
    expect(await foldHistory(topics.events)).toEqual(expected);
    expect(await loadDirectory(names['key-directory'])).toEqual(expected);
  }, 180_000);

  it('writes the bindings of a ledger from before the topic existed at the next claim', async () => {
    const names = await createTestTopics(brokers, 'test.keydir', ['commands', 'events', 'replies', 'key-directory'], PARTITIONS);
    const legacy: LedgerTopics = { commands: names.commands, events: names.events, replies: names.replies };
    const groupId = `test-keydir-${randomUUID().slice(0, 8)}`;
    const stopLegacy = await startInstance(legacy, groupId, 'lease-legacy');
    const send = await ops(legacy, groupId);
    const agreements = Array.from({ length: 4 }, (_, i) => `old-${i}-${randomUUID().slice(0, 6)}`);
    for (const [i, agreementId] of agreements.entries()) {
      expect(await send(command('OpenAgreement', { agreementId, name: agreementId, licenses: 1 }))).toEqual({ kind: 'accepted' });
      expect(await send(command('BindKey', { agreementId, key: keyOf(10 + i) }))).toEqual({ kind: 'accepted' });
    }
    await stopLegacy();
    expect((await readTopic(brokers, names['key-directory'])).length).toBe(0);

    await startInstance({ ...legacy, keyDirectory: names['key-directory'] }, groupId, 'lease-new');
    const expected = await foldHistory(legacy.events);
    expect(expected.size).toBe(4);
    await eventually('the claims to write every binding', 60_000, async () => {
      const loaded = await loadDirectory(names['key-directory']);
      return loaded.size === expected.size ? loaded : undefined;
    });
    expect(await loadDirectory(names['key-directory'])).toEqual(expected);
  }, 180_000);
});
