import { randomUUID } from 'node:crypto';
import { checkInvariants, LeaseCommand, LeaseOutcome, LedgerEvent } from '@license-ledger/lease-domain';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { KeyDirectory } from './key-directory';
import { LeaseProcessor, LedgerTopics } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { decodeLedgerRecord, isLedgerEvent } from './records';

const { brokers } = integrationEnv();
const PARTITIONS = 3;

const command = (type: LeaseCommand['type'], data: Record<string, unknown>, requestId: string = randomUUID()): LeaseCommand =>
  ({ type, data, metadata: { requestId } }) as unknown as LeaseCommand;
const holder = (key: string) => ({ key, hostname: 'gw-host', processId: 1, sessionId: 's' });

describe('one key, one agreement: binds racing on two lease instances (issue 12, item 5)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('accepts exactly one of two concurrent binds of a key to agreements on different partitions, and a bind elsewhere after a revoke', async () => {
    const topics: LedgerTopics = await createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], PARTITIONS);
    const groupId = `test-keys-${randomUUID().slice(0, 8)}`;
    // Two instances share the partitions, so the agreements' (and the key's) owners differ.
    for (const instanceId of ['lease-a', 'lease-b']) {
      const bus = new KafkaJsMessageBus({ clientId: instanceId, brokers, logger: silentLogger });
      const processor = new LeaseProcessor({ bus, topics, groupId, instanceId, logger: silentLogger });
      await processor.start();
      cleanups.push(async () => {
        await processor.stop();
        await bus.close();
      });
    }
    const clientBus = new KafkaJsMessageBus({ clientId: 'test-ops', brokers, logger: silentLogger });
    const client = new LedgerClient({ bus: clientBus, topics, instanceId: `ops-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await clientBus.close();
    });
    const send = (c: LeaseCommand): Promise<LeaseOutcome> => client.sendUntilAnswered(c, 10_000, 6);

    // Agreements on two different partitions, found where their AgreementOpened landed.
    const ids = Array.from({ length: 6 }, (_, i) => `agr-${i}-${randomUUID().slice(0, 6)}`);
    for (const agreementId of ids) expect(await send(command('OpenAgreement', { agreementId, name: agreementId, licenses: 1 }))).toEqual({ kind: 'accepted' });
    const partitionOf = new Map<string, number>();
    for (const message of await readTopic(brokers, topics.events)) {
      const record = decodeLedgerRecord(message.value);
      if (record.type === 'AgreementOpened') partitionOf.set(record.data.agreementId, message.partition);
    }
    const acme = ids[0] as string;
    const globex = ids.find((id) => partitionOf.get(id) !== partitionOf.get(acme));
    if (!globex) throw new Error('all agreements landed on one partition');

    const boundAtEnd = new Map<string, string>();
    for (let race = 0; race < 4; race++) {
      const key = Buffer.alloc(32, 100 + race).toString('base64');
      const [toAcme, toGlobex] = await Promise.all([
        send(command('BindKey', { agreementId: acme, key })),
        send(command('BindKey', { agreementId: globex, key })),
      ]);
      const accepted = [toAcme, toGlobex].filter((o) => o.kind === 'accepted');
      expect(accepted).toHaveLength(1);
      const [winner, loser, refusal] = toAcme.kind === 'accepted' ? [acme, globex, toGlobex] : [globex, acme, toAcme];
      expect(refusal).toEqual({
        kind: 'denied',
        reason: 'invalid_command',
        message: `the key is bound to agreement "${winner}"; revoke it there before binding it to "${loser}"`,
      });
      // Only the winner grants to the key.
      expect((await send(command('AcquireLock', { agreementId: winner, configHash: 'a'.repeat(64), holder: holder(key) }))).kind).toBe('granted');
      expect(await send(command('AcquireLock', { agreementId: loser, configHash: 'b'.repeat(64), holder: holder(key) }))).toMatchObject({ kind: 'denied', reason: 'no_license_agreement' });

      // Revoked (answered once the key is free), it binds elsewhere at once.
      expect(await send(command('RevokeKey', { agreementId: winner, key }))).toEqual({ kind: 'accepted' });
      expect(await send(command('BindKey', { agreementId: loser, key }))).toEqual({ kind: 'accepted' });
      expect(await send(command('BindKey', { agreementId: winner, key }))).toMatchObject({ kind: 'denied', message: expect.stringContaining(`bound to agreement "${loser}"`) });
      boundAtEnd.set(key, loser);
    }

    const events = (await readTopic(brokers, topics.events)).map((m) => decodeLedgerRecord(m.value)).filter((r): r is LedgerEvent => isLedgerEvent(r));
    expect(checkInvariants(events)).toEqual([]);
    // The ingress's directory: one answer per key, the agreement it was bound to last.
    const directoryBus = new KafkaJsMessageBus({ clientId: 'test-directory', brokers, logger: silentLogger });
    const directory = new KeyDirectory({ bus: directoryBus, eventsTopic: topics.events, groupId: `${groupId}.keys` });
    cleanups.push(async () => {
      await directory.stop();
      await directoryBus.close();
    });
    await directory.start();
    for (const [key, agreementId] of boundAtEnd) expect(directory.agreementOf(key)).toBe(agreementId);
  }, 180_000);
});
