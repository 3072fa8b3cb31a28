import { randomUUID } from 'node:crypto';
import { LeaseCommand } from '@license-ledger/lease-domain';
import { DeadLetteredRecord, DeadLetterHeaders, KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { LeaseProcessor } from './lease-processor';
import { LedgerClient } from './ledger-client';
import { decodeLedgerRecord, isLedgerEvent } from './records';

const { brokers } = integrationEnv();

function command(type: LeaseCommand['type'], data: Record<string, unknown>): LeaseCommand {
  return { type, data, metadata: { requestId: randomUUID() } } as unknown as LeaseCommand;
}

describe('LeaseProcessor with a poison command', () => {
  it('dead-letters it in its transaction, commits past it and decides the commands after it', async () => {
    const topics = await createTestTopics(brokers, 'test', ['commands', 'events', 'replies', 'dead'], 1);
    const groupId = `test-lease-${randomUUID().slice(0, 8)}`;
    const bus = new KafkaJsMessageBus({ clientId: 'test-lease', brokers, logger: silentLogger });
    const deadLettered: DeadLetteredRecord[] = [];
    const processor = new LeaseProcessor({
      bus,
      topics,
      groupId,
      instanceId: 'lease-0',
      logger: silentLogger,
      deadLetterTopic: topics.dead,
      onDeadLetter: (record) => deadLettered.push(record),
    });
    const client = new LedgerClient({ bus, topics, instanceId: `ingress-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    try {
      await processor.start();
      await client.start();
      const agreementId = `agr-${randomUUID()}`;
      // Same key as the commands after it: one partition, before them in the log.
      await bus.publish(topics.commands, [
        { key: agreementId, value: Buffer.from('{"command": {"type": "Nonsense"}, "replyTo": null}'), headers: { origin: 'test' } },
        { key: 'someone-else', value: Buffer.from(JSON.stringify({ command: command('OpenAgreement', { agreementId, name: 'Misrouted', licenses: 1 }), replyTo: null })) },
      ]);
      expect((await client.send(command('OpenAgreement', { agreementId, name: 'Acme', licenses: 2 }), 30_000)).kind).toBe('accepted');
      expect((await client.send(command('BindKey', { agreementId, key: Buffer.alloc(32, 7).toString('base64') }), 30_000)).kind).toBe('accepted');

      const dead = await eventually('two dead letters', 30_000, async () => {
        const read = await readTopic(brokers, topics.dead);
        return read.length >= 2 ? read : undefined;
      });
      expect(dead.map((m) => [m.key, m.headers[DeadLetterHeaders.offset]])).toEqual([
        [agreementId, '0'],
        ['someone-else', '1'],
      ]);
      expect(dead[0]?.headers).toMatchObject({ origin: 'test', [DeadLetterHeaders.topic]: topics.commands, [DeadLetterHeaders.partition]: '0', [DeadLetterHeaders.group]: groupId });
      expect(dead[0]?.headers[DeadLetterHeaders.error]).toMatch(/^malformed command/);
      expect(dead[1]?.headers[DeadLetterHeaders.error]).toMatch(/^misrouted command/);
      expect(deadLettered.map((r) => r.offset)).toEqual(['0', '1']);
      const events = (await readTopic(brokers, topics.events)).map((m) => decodeLedgerRecord(m.value).type).filter((t) => t !== 'PartitionClaimed' && t !== 'LedgerCheckpoint');
      expect(events).toEqual(['AgreementOpened', 'KeyBindRequested', 'KeyReserved', 'KeyBound']);
    } finally {
      await client.stop().catch(() => undefined);
      await processor.stop().catch(() => undefined);
      await bus.close();
    }

    // A new owner neither dead-letters nor decides them again: the offsets past them were committed with them.
    const rerun = new KafkaJsMessageBus({ clientId: 'test-lease-2', brokers, logger: silentLogger });
    const again: DeadLetteredRecord[] = [];
    const successor = new LeaseProcessor({ bus: rerun, topics, groupId, instanceId: 'lease-1', logger: silentLogger, deadLetterTopic: topics.dead, onDeadLetter: (r) => again.push(r) });
    try {
      await successor.start();
      await eventually('the partition claimed', 30_000, async () => (successor.ownedPartitions().length === 1 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      await successor.stop();
      await rerun.close();
    }
    expect(again).toEqual([]);
    expect(await readTopic(brokers, topics.dead)).toHaveLength(2);
  }, 120_000);
});

describe('LeaseProcessor with a command past its deadline', () => {
  it('decides nothing for it (its asker has answered 503) and decides the commands after it', async () => {
    const topics = await createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], 1);
    const groupId = `test-deadline-${randomUUID().slice(0, 8)}`;
    const bus = new KafkaJsMessageBus({ clientId: 'test-deadline', brokers, logger: silentLogger });
    const processor = new LeaseProcessor({ bus, topics, groupId, instanceId: 'lease-0', logger: silentLogger });
    const client = new LedgerClient({ bus, topics, instanceId: `ingress-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    try {
      const agreementId = `agr-${randomUUID()}`;
      // Written while no lease service runs, with a deadline that passes before one does: a broker
      // outage or a stalled partition delivers it late in the same way.
      const late = command('OpenAgreement', { agreementId, name: 'Too late', licenses: 9 });
      await bus.publish(topics.commands, [{ key: agreementId, value: Buffer.from(JSON.stringify({ command: late, replyTo: null, deadlineMs: Date.now() - 1 })) }]);
      await processor.start();
      await client.start();
      const onTime = await client.send(command('OpenAgreement', { agreementId, name: 'Acme', licenses: 2 }), 30_000);
      expect(onTime.kind).toBe('accepted');
      const events = (await readTopic(brokers, topics.events)).map((m) => decodeLedgerRecord(m.value)).filter(isLedgerEvent);
      expect(events.map((e) => [e.type, (e.data as { name?: string }).name])).toEqual([['AgreementOpened', 'Acme']]);
    } finally {
      await client.stop().catch(() => undefined);
      await processor.stop().catch(() => undefined);
      await bus.close();
    }
  }, 120_000);
});
