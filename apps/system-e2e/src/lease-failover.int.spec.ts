import { randomUUID } from 'node:crypto';
import { checkInvariants, LeaseCommand, LeaseEvent, LeaseOutcome } from '@license-ledger/lease-domain';
import { decodeLedgerRecord, LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { BuiltService, startBuiltService } from './support/built-service';

/**
 * Two lease services share the ledger's partitions; one is killed with SIGKILL under load. Every
 * grant that was answered must be in the log exactly once, the log must pass the invariant check
 * (never more live locks than licenses, each request decided once), and the survivor must take
 * over the dead instance's partitions within seconds.
 */
const { brokers } = integrationEnv();
const PARTITIONS = 6;
const AGREEMENTS = 12;
const LICENSES = 4;

async function readEvents(topic: string): Promise<LeaseEvent[]> {
  return (await readTopic(brokers, topic))
    .map((message) => decodeLedgerRecord(message.value))
    .filter((record): record is LeaseEvent => record.type !== 'PartitionClaimed');
}


describe('lease failover', () => {
  const services: BuiltService[] = [];
  afterAll(() => {
    for (const service of services) if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  it('loses and doubles nothing when an instance is killed under load, and the survivor takes over', async () => {
    const id = randomUUID().slice(0, 8);
    const topics = await createTestTopics(brokers, 'failover', ['commands', 'events', 'replies'], PARTITIONS);
    const env = {
      LEASE_COMMANDS_TOPIC: topics.commands,
      LEASE_EVENTS_TOPIC: topics.events,
      LEASE_REPLIES_TOPIC: topics.replies,
      LEASE_GROUP_ID: `failover-${id}`,
    };
    services.push(await startBuiltService('lease', env, `lease-a-${id}`));
    services.push(await startBuiltService('lease', env, `lease-b-${id}`));
    const [victim, survivor] = services;
    if (!victim || !survivor) throw new Error('two services expected');

    const bus = new KafkaJsMessageBus({ clientId: 'failover-ingress', brokers, logger: silentLogger });
    const client = new LedgerClient({ bus, topics, instanceId: `ingress-${id}`, groupPrefix: `failover-${id}` });
    await client.start();
    try {
      // Like the ingress: a request that times out is retried with the same request id.
      const sendUntilAnswered = (command: LeaseCommand): Promise<LeaseOutcome> => client.sendUntilAnswered(command, 2_000, 30);
      const key = Buffer.alloc(32, 5).toString('base64');
      const agreements = Array.from({ length: AGREEMENTS }, (_, i) => `failover-${id}-${i}`);
      for (const agreementId of agreements) {
        await sendUntilAnswered({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: LICENSES }, metadata: { requestId: randomUUID() } });
        await sendUntilAnswered({ type: 'BindKey', data: { agreementId, key }, metadata: { requestId: randomUUID() } });
      }

      const answered = new Map<string, LeaseOutcome>();
      let killedAt = 0;
      let slowestAfterKillMs = 0;
      const loadUntil = Date.now() + 12_000;
      const worker = async (w: number): Promise<void> => {
        for (let n = 0; Date.now() < loadUntil; n++) {
          const agreementId = agreements[(w * 7 + n) % AGREEMENTS] ?? '';
          // More config hashes than licenses, so some requests must be denied.
          const configHash = Math.floor(Math.random() * (LICENSES + 2)).toString(16).padStart(64, '0');
          const command: LeaseCommand = {
            type: 'AcquireLock',
            data: { agreementId, configHash, holder: { key, hostname: `gw-${w}`, processId: 1000 + w, sessionId: `s-${w}-${n % 3}` }, requestedPeriodMs: 10 * 60_000 },
            metadata: { requestId: randomUUID() },
          };
          const sentAt = Date.now();
          answered.set(command.metadata.requestId, await sendUntilAnswered(command));
          if (killedAt > 0 && sentAt >= killedAt - 2_000) slowestAfterKillMs = Math.max(slowestAfterKillMs, Date.now() - sentAt);
        }
      };
      const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await load;

      const granted = [...answered].filter(([, outcome]) => outcome.kind === 'granted');
      const denied = [...answered.values()].filter((outcome) => outcome.kind === 'denied');
      expect(granted.length).toBeGreaterThan(20);
      expect(denied.length).toBeGreaterThan(0);
      const events = await readEvents(topics.events);
      const grantEvents = events.filter((e) => e.type === 'LockGranted' || e.type === 'LockRenewed');
      for (const [requestId] of granted) {
        expect({ requestId, inLog: grantEvents.filter((e) => e.metadata.requestId === requestId).length }).toEqual({ requestId, inLog: 1 });
      }
      expect(checkInvariants(events)).toEqual([]);
      // The survivor answered for the victim's partitions within seconds of the kill.
      console.log(`failover: ${answered.size} requests answered, ${granted.length} granted, ${denied.length} denied; slowest request across the kill ${slowestAfterKillMs} ms`);
      expect(slowestAfterKillMs).toBeLessThan(20_000);
      expect(survivor.child.exitCode).toBeNull();
    } finally {
      await client.stop();
      await bus.close();
    }
  }, 180_000);
});
