import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LeaseEvent } from '@license-ledger/lease-domain';
import { encodeJson, LeaseProcessor, LedgerClient, LedgerTopics } from '@license-ledger/lease-ledger';
import { createScratchSchema, LedgerProjection, LedgerProjector, ScratchSchema } from '@license-ledger/lease-projection';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { runCli } from './cli';

const { brokers, databaseUrl } = integrationEnv();
const silent = silentLogger;
const PARTITIONS = 3;

function createLedgerTopics(): Promise<LedgerTopics> {
  return createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], PARTITIONS);
}

interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

describe('ledger-cli against the real broker and database', () => {
  let scratch: ScratchSchema;
  let topics: LedgerTopics;
  let groupId: string;
  let cliEnv: Record<string, string>;
  const cleanups: Array<() => Promise<void>> = [];
  const bus = new KafkaJsMessageBus({ clientId: 'cli-test', brokers, logger: silent });

  const cli = async (...argv: string[]): Promise<CliRun> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, {
      env: cliEnv,
      io: { out: (line) => out.push(line), err: (line) => err.push(line), errRaw: () => undefined, errIsTTY: false },
      createPrisma: () => scratch.newClient(),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  /** Waits until the projector has projected `events` events. */
  const projected = async (events: number): Promise<void> => {
    for (let i = 0; i < 300 && (await scratch.prisma.ledgerEvent.count()) < events; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await scratch.prisma.ledgerEvent.count()).toBe(events);
  };

  beforeAll(async () => {
    scratch = await createScratchSchema(databaseUrl);
    topics = await createLedgerTopics();
    groupId = `test-cli-${randomUUID().slice(0, 8)}`;
    cliEnv = {
      KAFKA_BROKERS: brokers.join(','),
      DATABASE_URL: databaseUrl,
      LEASE_COMMANDS_TOPIC: topics.commands,
      LEASE_EVENTS_TOPIC: topics.events,
      LEASE_REPLIES_TOPIC: topics.replies,
      LEASE_GROUP_ID: groupId,
    };
    const processor = new LeaseProcessor({
      bus,
      topics,
      groupId,
      instanceId: `lease-${randomUUID().slice(0, 6)}`,
      logger: silent,
    });
    await processor.start();
    const projector = new LedgerProjector({
      bus,
      projection: new LedgerProjection(scratch.prisma),
      eventsTopic: topics.events,
      groupId: `${groupId}.projection`,
      logger: silent,
    });
    await projector.start();
    cleanups.push(async () => {
      await projector.stop();
      await processor.stop();
      await bus.close();
    });
  }, 60_000);

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await scratch.drop();
  });

  it('sends ops commands through the ledger, lists the projection, replays and verifies the log', async () => {
    const agreementId = `acme-${randomUUID().slice(0, 6)}`;
    const key = Buffer.alloc(32, 5).toString('base64');
    const keyFile = path.join(mkdtempSync(path.join(tmpdir(), 'ledger-cli-')), 'gateway.pub');
    writeFileSync(keyFile, `${key}\n`);

    const opened = await cli('agreement', 'open', '--id', agreementId, '--name', 'Acme Ltd', '--licenses', '2', '--min', '1m');
    expect(opened).toMatchObject({ code: 0, err: '' });
    expect(opened.out).toMatch(new RegExp(`open agreement "${agreementId}": accepted \\(request ops-`));
    expect(await cli('key', 'bind', '--agreement', agreementId, '--key', keyFile)).toMatchObject({ code: 0 });

    const again = await cli('agreement', 'open', '--id', agreementId, '--name', 'Acme Ltd', '--licenses', '2');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/DENIED \(invalid_command\): agreement ".*" is already open/);

    // A gateway takes a lock, so the listing has a holder to show.
    const gateway = new LedgerClient({ bus, topics, instanceId: `gw-${randomUUID().slice(0, 6)}`, groupPrefix: groupId });
    await gateway.start();
    const holder = { key, hostname: 'gw-host', processId: 4242, sessionId: 'session-1' };
    const lock = await gateway.send(
      { type: 'AcquireLock', data: { agreementId, configHash: 'ab'.repeat(32), holder }, metadata: { requestId: randomUUID() } },
      30_000,
    );
    await gateway.stop();
    expect(lock.kind).toBe('granted');

    await projected(6); // opened, bind requested, key reserved (the key's stream), key bound, denied, lock granted
    const listed = await cli('list');
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(new RegExp(`${agreementId}\\s+Acme Ltd\\s+open\\s+2\\s+1/2\\s+1\\s+1m/2h/7d`));
    expect(listed.out).toContain('held by gw-host:4242 session session-1');

    const history = await cli('replay', '--agreement', agreementId);
    expect(history.code).toBe(0);
    const rows = history.out.split('\n');
    expect(rows[0]).toMatch(/^PARTITION\s+OFFSET\s+TIME\s+TYPE\s+REQUEST\s+DETAILS$/);
    expect(rows.slice(1, -1).map((row) => row.split(/\s{2,}/)[3])).toEqual(['AgreementOpened', 'KeyBindRequested', 'KeyReserved', 'KeyBound', 'RequestDenied', 'LockGranted']);
    expect(rows[1]).toMatch(/^\d\s+\d+\s+\d{4}-\d\d-\d\dT/);
    expect(history.err).toMatch(/^read \d+ record\(s\) from 3 partition\(s\)/);

    const state = await cli('replay');
    expect(state.out).toContain(`${agreementId} "Acme Ltd" open, 2 license(s), 1 live lock(s), bounds 1m/2h/7d`);
    const before = await cli('replay', '--as-of', '2000-01-01T00:00:00Z');
    expect(before.out).toContain('no agreements');
    // Exact to the millisecond, from the binary chained records: the lock exists from its grant's time on, not before.
    const grantedAt = rows.find((row) => row.includes('LockGranted'))?.split(/\s{2,}/)[2] ?? '';
    const justBefore = new Date(Date.parse(grantedAt) - 1).toISOString();
    expect((await cli('replay', '--as-of', grantedAt)).out).toContain(`${agreementId} "Acme Ltd" open, 2 license(s), 1 live lock(s)`);
    expect((await cli('replay', '--as-of', justBefore)).out).toContain(`${agreementId} "Acme Ltd" open, 2 license(s), 0 live lock(s)`);

    const verified = await cli('verify');
    expect(verified.err).not.toContain('FAILED');
    expect(verified).toMatchObject({ code: 0 });
    expect(verified.out.split('\n')[0]).toBe('verify OK: 6 event(s), 1 agreement(s), chains intact, invariants hold, projection matches the log');
    // No ledger key in this test: linked, not signed.
    expect(verified.err).toMatch(/^chains: (\d) of \1 partition\(s\) with events linked, 0 checkpoint\(s\)$/m);

    // Break the projection, not the log: a changed row, a lost lock, a lost event row. verify must name each.
    await scratch.prisma.agreement.update({ where: { id: agreementId }, data: { licenses: 3 } });
    await scratch.prisma.liveLock.deleteMany({ where: { agreementId } });
    const lostEvent = await scratch.prisma.ledgerEvent.findFirstOrThrow({ where: { agreementId, type: 'KeyBound' } });
    const inPartition = await scratch.prisma.ledgerEvent.count({ where: { partition: lostEvent.partition } });
    await scratch.prisma.ledgerEvent.delete({ where: { partition_offset: { partition: lostEvent.partition, offset: lostEvent.offset } } });
    const drifted = await cli('verify');
    expect(drifted.code).toBe(1);
    expect(drifted.out).toBe('');
    expect(drifted.err.split('\n')).toEqual([
      expect.stringMatching(/^read \d+ record\(s\) from 3 partition\(s\)/),
      'verify FAILED: 0 problem(s) in the log, 3 projection mismatch(es)',
      'projection (a busy ledger or a lagging projector also shows here; run again to tell):',
      `  partition ${lostEvent.partition}: ${inPartition - 1} event(s) projected, ${inPartition} in the log`,
      `  agreement "${agreementId}": licenses is 3 in the projection, 2 in the log`,
      `  agreement "${agreementId}": lock ${'ab'.repeat(32)} is missing from the projection`,
    ]);

    // Break the log: an unreadable record, and a renewal of a lock that was never granted.
    const renewal: LeaseEvent = {
      type: 'LockRenewed',
      data: { agreementId, configHash: 'cd'.repeat(32), holder, expiresAt: Date.now() + 60_000 },
      metadata: { requestId: 'forged-renewal', at: Date.now() },
    };
    await bus.publish(topics.events, [
      { key: agreementId, value: encodeJson(renewal) },
      { key: agreementId, value: Buffer.from('{"type":"LockGranted","data":') },
    ]);
    const broken = await cli('verify', '--skip-projection');
    expect(broken.code).toBe(1);
    // Written by a plain producer: neither record carries a chain link.
    expect(broken.err).toMatch(/verify FAILED: 4 problem\(s\) in the log, 0 projection mismatch\(es\); chain broken in partition \d at offset \d+$/m);
    expect(broken.err).toMatch(/partition \d offset \d+: record without a chain link after the chain started \(offset \d+\): not written by the lease service/);
    expect(broken.err).toMatch(/partition \d offset \d+: renewal_of_dead_lock: agreement ".*", request forged-renewal: renewal of lock (cd){32}, which is not recorded/);
    expect(broken.err).toMatch(/partition \d offset \d+: unreadable record: malformed ledger record/);

    const replayBroken = await cli('replay');
    expect(replayBroken.code).toBe(1);
    expect(replayBroken.err).toMatch(/broken log: 1 unreadable record\(s\):\n {2}partition \d offset \d+: malformed ledger record/);
  }, 180_000);

  it('names a missing variable and exits 2', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['list'], { env: { KAFKA_BROKERS: brokers.join(',') }, io: { out: (l) => out.push(l), err: (l) => err.push(l), errRaw: () => undefined, errIsTTY: false } });
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/DATABASE_URL is required but not set/);
  });
});
