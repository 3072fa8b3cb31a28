import { randomUUID } from 'node:crypto';
import type { LeaseCommand } from '@license-ledger/lease-domain';
import { LeaseProcessor, LedgerClient, LedgerTopics, stateTopicsOf } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { runCli } from './cli';

/** `ledger snapshot status` against a ledger whose owner snapshots every 20 records. */
const { brokers } = integrationEnv();
const PARTITIONS = 2;

describe('ledger snapshot status on the real broker', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  const cli = async (env: Record<string, string>, ...argv: string[]): Promise<{ code: number; out: string[] }> => {
    const out: string[] = [];
    const code = await runCli(argv, { env, io: { out: (line) => out.push(line), err: (line) => out.push(line), errRaw: () => undefined, errIsTTY: false } });
    return { code, out };
  };

  it('shows each partition\'s snapshot offset, age and the tail after it', async () => {
    const names = await createTestTopics(brokers, 'test.snapcli', ['commands', 'events', 'replies', 'snapshots'], PARTITIONS);
    expect(stateTopicsOf(names.events).snapshots).toBe(names.snapshots);
    const topics: LedgerTopics = { commands: names.commands, events: names.events, replies: names.replies, snapshots: names.snapshots };
    const env = { KAFKA_BROKERS: brokers.join(','), LEASE_EVENTS_TOPIC: topics.events };
    const groupId = `test-snapcli-${randomUUID().slice(0, 8)}`;

    // Before anything is written: no snapshot anywhere. (A topic just created may not answer at once.)
    const empty = await eventually('the new topics to answer', 30_000, async () => {
      const run = await cli(env, 'snapshot', 'status');
      return run.out.join('\n').includes('not the leader') ? undefined : run;
    });
    expect(empty.code).toBe(0);
    expect(empty.out.filter((line) => line.includes('no snapshot'))).toHaveLength(PARTITIONS);

    const bus = new KafkaJsMessageBus({ clientId: 'lease-snapcli', brokers, logger: silentLogger });
    const processor = new LeaseProcessor({ bus, topics, groupId, instanceId: 'lease-snapcli', logger: silentLogger, snapshotPolicy: { everyRecords: 20, everyMs: 3_600_000 } });
    await processor.start();
    cleanups.push(async () => {
      await processor.stop();
      await bus.close();
    });
    const clientBus = new KafkaJsMessageBus({ clientId: 'ops-snapcli', brokers, logger: silentLogger });
    const client = new LedgerClient({ bus: clientBus, topics, instanceId: `ops-${randomUUID().slice(0, 8)}`, groupPrefix: groupId });
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await clientBus.close();
    });
    const agreementId = `agr-${randomUUID().slice(0, 6)}`;
    const send = (command: LeaseCommand): Promise<unknown> => client.sendUntilAnswered(command, 10_000, 6);
    await send({ type: 'OpenAgreement', data: { agreementId, name: 'A', licenses: 100 }, metadata: { requestId: randomUUID() } });
    for (let n = 0; n < 30; n++) await send({ type: 'ChangeAgreement', data: { agreementId, licenses: 100 + n }, metadata: { requestId: randomUUID() } });

    const status = await eventually('a snapshot in the status', 30_000, async () => {
      const run = await cli(env, 'snapshot', 'status', '--exact');
      return run.out.some((line) => line.endsWith('ok')) ? run : undefined;
    });
    expect(status.code).toBe(0);
    expect(status.out[0]).toBe(`snapshots of ${topics.events} in ${topics.snapshots}:`);
    expect(status.out[1]).toMatch(/^PARTITION\s+SNAPSHOT OFFSET\s+TAKEN AT\s+AGE\s+SIZE\s+TAIL RECORDS\s+TAIL EVENTS\s+STATE$/);
    const [partition, offset, , age, , tailRecords, tailEvents] = (status.out.find((line) => line.endsWith('ok')) ?? '').split(/\s{2,}/);
    expect(Number(partition)).toBeLessThan(PARTITIONS);
    expect(Number(offset)).toBeGreaterThanOrEqual(20);
    expect(age).toMatch(/^\d+s$/);
    // At most one snapshot interval of records after it, and fewer events than records (transaction markers).
    expect(Number(tailRecords)).toBeLessThan(20 + 10);
    expect(Number(tailEvents)).toBeLessThanOrEqual(Number(tailRecords));
  }, 120_000);
});
