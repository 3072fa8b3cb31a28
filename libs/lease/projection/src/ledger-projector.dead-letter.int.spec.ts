import { randomUUID } from 'node:crypto';
import { DEFAULT_BOUNDS } from '@license-ledger/lease-domain';
import { DeadLetterHeaders, KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { LedgerProjection } from './ledger-projection';
import { LedgerProjector } from './ledger-projector';
import { createScratchSchema } from './scratch-schema';

const { brokers, databaseUrl } = integrationEnv();

const opened = (agreementId: string, name: string): Buffer =>
  Buffer.from(JSON.stringify({ type: 'AgreementOpened', data: { agreementId, name, licenses: 1, bounds: DEFAULT_BOUNDS }, metadata: { requestId: randomUUID(), at: Date.now() } }));

describe('LedgerProjector with records the database refuses', () => {
  it('dead-letters a record PostgreSQL rejects for good and a malformed one, and projects the records after them', async () => {
    const scratch = await createScratchSchema(databaseUrl);
    const topics = await createTestTopics(brokers, 'test', ['events', 'dead'], 1);
    const bus = new KafkaJsMessageBus({ clientId: 'test-projector', brokers, logger: silentLogger, retryBackoffMs: { initial: 10, max: 50 } });
    const projector = new LedgerProjector({
      bus,
      projection: new LedgerProjection(scratch.prisma),
      eventsTopic: topics.events,
      groupId: `test-projection-${randomUUID().slice(0, 8)}`,
      deadLetterTopic: topics.dead,
      logger: silentLogger,
    });
    try {
      // U+0000 is valid JSON and a valid name, but PostgreSQL text and jsonb cannot hold it (22P05).
      await bus.publish(topics.events, [
        { key: 'a', value: opened('agr-1', 'First') },
        { key: 'a', value: opened('agr-2', 'Nul\u0000Name') },
        { key: 'a', value: Buffer.from('{"type":"AgreementOpened"}') },
        { key: 'a', value: opened('agr-3', 'Third') },
      ]);
      await projector.start();
      const agreements = await eventually('the record after the poison', 30_000, async () => {
        const rows = await scratch.prisma.agreement.findMany({ orderBy: { id: 'asc' } });
        return rows.length >= 2 ? rows : undefined;
      });
      expect(agreements.map((a) => a.id)).toEqual(['agr-1', 'agr-3']);
      const dead = await eventually('two dead letters', 30_000, async () => {
        const read = await readTopic(brokers, topics.dead);
        return read.length >= 2 ? read : undefined;
      });
      expect(dead.map((m) => m.headers[DeadLetterHeaders.offset])).toEqual(['1', '2']);
      expect(dead[1]?.headers[DeadLetterHeaders.error]).toMatch(/^malformed ledger record/);
      expect(dead[0]?.headers[DeadLetterHeaders.error]).not.toMatch(/^malformed/);
    } finally {
      await projector.stop();
      await bus.close();
      await scratch.drop();
    }
  }, 90_000);
});
