import { randomUUID } from 'node:crypto';
import { AgreementState, evolve, initialState, isKeyEvent, KEY_EVENT_TYPES, LeaseCommand, LeaseEvent } from '@license-ledger/lease-domain';
import { decodeLedgerRecord, isLedgerEvent, LeaseProcessor, LedgerClient, LedgerTopics } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { PrismaClient } from '@license-ledger/platform-database';
import { LedgerProjection, PositionedRecord } from './ledger-projection';
import { LedgerProjector } from './ledger-projector';
import { projectionDifferences, readProjection } from './projection-reader';
import { createScratchSchema, ScratchSchema } from './scratch-schema';

const { brokers, databaseUrl } = integrationEnv();
const silent = silentLogger;
const PARTITIONS = 3;

function createLedgerTopics(): Promise<LedgerTopics> {
  return createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], PARTITIONS);
}

function command(type: LeaseCommand['type'], data: Record<string, unknown>): LeaseCommand {
  return { type, data, metadata: { requestId: randomUUID() } } as unknown as LeaseCommand;
}

const hash = (n: number): string => n.toString(16).padStart(64, '0');
const holder = (key: string, sessionId: string) => ({ key, hostname: 'gw-host', processId: 4242, sessionId });

/** Every table of the projection, as plain sorted rows: equal snapshots mean equal projections. */
async function snapshot(prisma: PrismaClient): Promise<unknown> {
  const [agreements, keys, locks, holders, events] = await Promise.all([
    prisma.agreement.findMany({ orderBy: { id: 'asc' } }),
    prisma.gatewayKey.findMany({ orderBy: [{ agreementId: 'asc' }, { key: 'asc' }] }),
    prisma.liveLock.findMany({ orderBy: [{ agreementId: 'asc' }, { configHash: 'asc' }] }),
    prisma.lockHolder.findMany({ orderBy: [{ agreementId: 'asc' }, { configHash: 'asc' }, { sessionId: 'asc' }] }),
    prisma.ledgerEvent.findMany({ orderBy: [{ partition: 'asc' }, { offset: 'asc' }] }),
  ]);
  return { agreements, keys, locks, holders, events };
}

describe('LedgerProjection on the real broker and database', () => {
  let scratch: ScratchSchema;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    scratch = await createScratchSchema(databaseUrl);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await scratch.drop();
  });

  it('projects the log idempotently, rebuilds to the same rows, and keeps up through the projector', async () => {
    const topics = await createLedgerTopics();
    const groupId = `test-projection-${randomUUID().slice(0, 8)}`;
    const bus = new KafkaJsMessageBus({ clientId: `lease-${randomUUID().slice(0, 6)}`, brokers, logger: silent });
    const processor = new LeaseProcessor({
      bus,
      topics,
      groupId,
      instanceId: `lease-${randomUUID().slice(0, 6)}`,
      logger: silent,
    });
    await processor.start();
    const client = new LedgerClient({ bus, topics, instanceId: `ops-${randomUUID().slice(0, 6)}`, groupPrefix: groupId });
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await processor.stop();
      await bus.close();
    });

    const acme = `acme-${randomUUID().slice(0, 6)}`;
    const globex = `globex-${randomUUID().slice(0, 6)}`;
    const key = Buffer.alloc(32, 7).toString('base64');
    const otherKey = Buffer.alloc(32, 8).toString('base64');
    const send = (c: LeaseCommand) => client.send(c, 30_000);
    await send(command('OpenAgreement', { agreementId: acme, name: 'Acme', licenses: 2, bounds: { minMs: 60_000 } }));
    await send(command('BindKey', { agreementId: acme, key }));
    await send(command('BindKey', { agreementId: acme, key: otherKey }));
    expect((await send(command('AcquireLock', { agreementId: acme, configHash: hash(1), holder: holder(key, 's1') }))).kind).toBe('granted');
    expect((await send(command('AcquireLock', { agreementId: acme, configHash: hash(1), holder: holder(otherKey, 's2') }))).kind).toBe('granted');
    expect((await send(command('AcquireLock', { agreementId: acme, configHash: hash(2), holder: holder(key, 's3') }))).kind).toBe('granted');
    expect((await send(command('ReleaseLock', { agreementId: acme, configHash: hash(2), holder: holder(key, 's3') }))).kind).toBe('released');
    expect((await send(command('ReleaseLock', { agreementId: acme, configHash: hash(1), holder: holder(key, 's1') }))).kind).toBe('released');
    await send(command('RevokeKey', { agreementId: acme, key }));
    await send(command('ChangeAgreement', { agreementId: acme, licenses: 3 }));
    await send(command('OpenAgreement', { agreementId: globex, name: 'Globex', licenses: 1 }));
    await send(command('CloseAgreement', { agreementId: globex }));
    expect((await send(command('BindKey', { agreementId: globex, key }))).kind).toBe('denied');

    // Read the whole log through the bus port, as the CLI does.
    const ranges = await bus.partitionRanges(topics.events);
    const records: PositionedRecord[] = [];
    await bus.readRanges({
      topic: topics.events,
      ranges,
      onMessages: (messages) => {
        for (const m of messages) records.push({ partition: m.partition, offset: BigInt(m.offset), record: decodeLedgerRecord(m.value) });
      },
    });
    records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
    const eventCount = records.filter((r) => isLedgerEvent(r.record)).length;
    // 13 decisions of the agreements, plus per bind its request and the key's reservation, and the
    // key's release after its revocation.
    expect(eventCount).toBe(18);

    const projection = new LedgerProjection(scratch.prisma);
    const first = await projection.applyBatch(records);
    expect(first).toEqual({ applied: 18, duplicates: 0, markers: records.length - 18 });
    const projected = await snapshot(scratch.prisma);

    const agreements = await readProjection(scratch.prisma);
    expect(agreements.map((a) => [a.id, a.status, a.licenses, a.bounds.minMs])).toEqual([
      [acme, 'open', 3, 60_000],
      [globex, 'closed', 1, 300_000],
    ]);
    const acmeRow = agreements[0];
    expect(acmeRow?.keys).toEqual([otherKey]);
    expect(acmeRow?.locks.map((l) => [l.configHash, l.holders.map((h) => h.sessionId)])).toEqual([[hash(1), ['s2']]]);
    const eventRows = await scratch.prisma.ledgerEvent.findMany({ where: { agreementId: acme }, orderBy: { at: 'asc' } });
    expect(eventRows[0]).toMatchObject({ type: 'AgreementOpened' });
    // The agreement's own events on its partition; the key's stream (also about acme) on the key's.
    const keyStream = new Set<string>(KEY_EVENT_TYPES);
    const agreementRows = eventRows.filter((row) => !keyStream.has(row.type));
    expect(agreementRows.every((row) => row.partition === eventRows[0]?.partition)).toBe(true);
    expect(eventRows.filter((row) => keyStream.has(row.type)).map((row) => row.type)).toEqual(['KeyReserved', 'KeyReserved', 'KeyReleased']);

    // The same records again (a redelivery): nothing changes, one by one or as a batch.
    const [firstRecord] = records;
    if (!firstRecord) throw new Error('the log is empty');
    expect(await projection.apply(firstRecord.partition, firstRecord.offset, firstRecord.record)).toBe(false);
    expect(await projection.applyBatch(records)).toMatchObject({ applied: 0, duplicates: 18 });
    expect(await snapshot(scratch.prisma)).toEqual(projected);

    // The fold of the log and the projection agree.
    const states = new Map<string, AgreementState>();
    for (const { record } of records) {
      if (!isLedgerEvent(record) || isKeyEvent(record)) continue;
      const id = record.data.agreementId;
      states.set(id, evolve(states.get(id) ?? initialState(id), record));
    }
    expect(projectionDifferences(states.values(), agreements)).toEqual([]);

    // From scratch: same rows.
    await projection.rebuild();
    expect(await scratch.prisma.ledgerEvent.count()).toBe(0);
    await projection.applyBatch(records);
    expect(await snapshot(scratch.prisma)).toEqual(projected);

    // And through the projector (the lease service's consumer), after emptying again.
    await projection.rebuild();
    const projectorBus = new KafkaJsMessageBus({ clientId: 'projector', brokers, logger: silent });
    const projector = new LedgerProjector({ bus: projectorBus, projection, eventsTopic: topics.events, groupId: `${groupId}.projection`, logger: silent });
    await projector.start();
    cleanups.push(async () => {
      await projector.stop();
      await projectorBus.close();
    });
    for (let i = 0; i < 200 && (await scratch.prisma.ledgerEvent.count()) < 18; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await snapshot(scratch.prisma)).toEqual(projected);
  }, 120_000);

  it('applies runs of renewals as one event at a time would: grants a missing lock, only moves expiry later, adds each holder once', async () => {
    const own = await createScratchSchema(databaseUrl);
    cleanups.push(() => own.drop());
    const agreementId = 'renewals';
    const at = (s: number) => 1_800_000_000_000 + s * 1000;
    const meta = (n: number) => ({ requestId: `r${n}`, at: at(n) });
    const a = holder(Buffer.alloc(32, 1).toString('base64'), 'sA');
    const b = holder(Buffer.alloc(32, 2).toString('base64'), 'sB');
    const events: LeaseEvent[] = [
      { type: 'AgreementOpened', data: { agreementId, name: 'R', licenses: 5, bounds: { minMs: 1, defaultMs: 10, maxMs: 100 } }, metadata: meta(0) },
      { type: 'LockGranted', data: { agreementId, configHash: hash(1), holder: a, expiresAt: at(100) }, metadata: meta(1) },
      { type: 'LockRenewed', data: { agreementId, configHash: hash(1), holder: a, expiresAt: at(200) }, metadata: meta(2) },
      // B joins with an earlier expiry: the lock keeps the later one.
      { type: 'LockRenewed', data: { agreementId, configHash: hash(1), holder: b, expiresAt: at(150) }, metadata: meta(3) },
      // A renewal of a lock never granted in this log grants it (as evolve does).
      { type: 'LockRenewed', data: { agreementId, configHash: hash(2), holder: b, expiresAt: at(300) }, metadata: meta(4) },
      { type: 'LockRenewed', data: { agreementId, configHash: hash(2), holder: b, expiresAt: at(400) }, metadata: meta(5) },
      { type: 'LockRenewed', data: { agreementId, configHash: hash(1), holder: a, expiresAt: at(250) }, metadata: meta(6) },
      { type: 'LockExpired', data: { agreementId, configHash: hash(1), expiredAt: at(250) }, metadata: meta(7) },
      { type: 'LockRenewed', data: { agreementId, configHash: hash(3), holder: a, expiresAt: at(500) }, metadata: meta(8) },
    ];
    const records: PositionedRecord[] = events.map((record, i) => ({ partition: 0, offset: BigInt(i), record }));
    const projection = new LedgerProjection(own.prisma);
    // A redelivered prefix first: its renewals must not be applied twice.
    expect(await projection.applyBatch(records.slice(0, 4))).toEqual({ applied: 4, duplicates: 0, markers: 0 });
    expect(await projection.applyBatch(records)).toEqual({ applied: 5, duplicates: 4, markers: 0 });
    const locks = await own.prisma.liveLock.findMany({ orderBy: { configHash: 'asc' }, include: { holders: { orderBy: { sessionId: 'asc' } } } });
    expect(locks.map((l) => [l.configHash, l.grantedAt.getTime(), l.expiresAt.getTime(), l.holders.map((h) => [h.sessionId, h.joinedAt.getTime()])])).toEqual([
      [hash(2), at(4), at(400), [['sB', at(4)]]],
      [hash(3), at(8), at(500), [['sA', at(8)]]],
    ]);
    // After B joined (in the same run as A's renewal to a later time), lock 1 keeps the later expiry.
    const prefix = await createScratchSchema(databaseUrl);
    cleanups.push(() => prefix.drop());
    await new LedgerProjection(prefix.prisma).applyBatch(records.slice(0, 4));
    const lock1 = await prefix.prisma.liveLock.findUniqueOrThrow({ where: { agreementId_configHash: { agreementId, configHash: hash(1) } }, include: { holders: { orderBy: { sessionId: 'asc' } } } });
    expect([lock1.grantedAt.getTime(), lock1.expiresAt.getTime(), lock1.holders.map((h) => [h.sessionId, h.joinedAt.getTime()])]).toEqual([
      at(1),
      at(200),
      [['sA', at(1)], ['sB', at(3)]],
    ]);
  });
});
