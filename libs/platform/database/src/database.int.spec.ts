/**
 * Integration test: the real database path (migrated schema → pg driver adapter → generated
 * client) against the PostgreSQL server in DATABASE_URL. The database must be migrated first:
 * `npm test` does it; by hand: the `deploy` command of the migrate script (npm run db:migrate).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createPrismaClient, Prisma, type PrismaClient } from './index';

jest.setTimeout(60_000);

const databaseUrl = process.env['DATABASE_URL'];

describe('platform-database against PostgreSQL (DATABASE_URL)', () => {
  let prisma: PrismaClient | undefined;
  const service = `int-test-${randomUUID()}`;

  beforeAll(async () => {
    if (databaseUrl === undefined || databaseUrl === '') {
      throw new Error(
        'DATABASE_URL is not set: database integration tests need PostgreSQL, e.g. ' +
          'DATABASE_URL=postgresql://postgres@127.0.0.1:5432/license_ledger_dev',
      );
    }
    prisma = createPrismaClient(databaseUrl, { poolSize: 4 });
    const [table] = await prisma.$queryRaw<Array<{ name: string | null }>>(
      Prisma.sql`SELECT to_regclass('public.service_heartbeat')::text AS name`,
    );
    if (!table?.name) {
      throw new Error(
        'Table service_heartbeat is missing: apply the migrations first ' +
          '(the deploy command of the migrate script, e.g. npm run db:migrate; `npm test` does it for you)',
      );
    }
  });

  afterAll(async () => {
    if (!prisma) return;
    await prisma.serviceHeartbeat.deleteMany({ where: { service } });
    await prisma.$disconnect();
  });

  function client(): PrismaClient {
    if (!prisma) throw new Error('Prisma client not initialised (see beforeAll)');
    return prisma;
  }

  it('writes a row and reads it back, including bytes and a millisecond timestamp', async () => {
    const id = randomUUID();
    const payload = new Uint8Array(randomBytes(64));
    payload[0] = 0; // include the bytes most likely to be mangled by text conversions
    payload[1] = 255;
    const seenAt = new Date('2026-03-04T05:06:07.891Z');

    await client().serviceHeartbeat.create({ data: { id, service, instanceId: 'instance-a', seenAt, payload } });
    const row = await client().serviceHeartbeat.findUniqueOrThrow({ where: { id } });

    expect(row.service).toBe(service);
    expect(row.instanceId).toBe('instance-a');
    expect(row.seenAt.toISOString()).toBe(seenAt.toISOString());
    expect(row.payload).not.toBeNull();
    expect(Buffer.from(row.payload ?? new Uint8Array()).equals(Buffer.from(payload))).toBe(true);
  });

  it('stores null bytes as NULL and keeps the column types the migration declares', async () => {
    const id = randomUUID();
    await client().serviceHeartbeat.create({
      data: { id, service, instanceId: 'instance-b', seenAt: new Date(), payload: null },
    });
    const rows = await client().$queryRaw<Array<{ payload: Uint8Array | null; seen_at_type: string }>>(
      Prisma.sql`SELECT payload, pg_typeof(seen_at)::text AS seen_at_type FROM service_heartbeat WHERE id = ${id}`,
    );
    expect(rows).toEqual([{ payload: null, seen_at_type: 'timestamp with time zone' }]);
  });

  it('runs concurrent writes through the pool and an interactive transaction', async () => {
    const ids = Array.from({ length: 20 }, () => randomUUID());
    await Promise.all(
      ids.map((id, i) =>
        client().serviceHeartbeat.create({ data: { id, service, instanceId: `i-${i}`, seenAt: new Date() } }),
      ),
    );
    const count = await client().$transaction(async (tx) => {
      await tx.serviceHeartbeat.deleteMany({ where: { id: ids[0] } });
      return tx.serviceHeartbeat.count({ where: { id: { in: ids } } });
    });
    expect(count).toBe(ids.length - 1);
  });
});
