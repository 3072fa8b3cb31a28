/**
 * Integration test: the embedded PostgreSQL (PGlite over a socket, as a child process) serves the
 * migrations and the Prisma client like a real server.
 */
import { randomUUID } from 'node:crypto';
import { createPrismaClient } from '@license-ledger/platform-database';
import { EMBEDDED_POOL_SIZE, spawnEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { migrateDeploy, migrateStatus } from './migrate';

jest.setTimeout(120_000);

describe('embedded PostgreSQL (PGlite)', () => {
  let server: EmbeddedPostgres | undefined;

  beforeAll(async () => {
    server = await spawnEmbeddedPostgres({ forwardStderr: false });
  });

  afterAll(async () => {
    await server?.stop();
  });

  function url(): string {
    if (!server) throw new Error('embedded server did not start');
    return server.url;
  }

  it('takes the migrations, idempotently', async () => {
    const first = await migrateDeploy(url());
    expect(first.applied.length).toBeGreaterThan(0);
    const second = await migrateDeploy(url());
    expect(second.applied).toEqual([]);
    const status = await migrateStatus(url());
    expect(status.upToDate).toBe(true);
  });

  it('serves the Prisma client over a pool of several connections', async () => {
    const prisma = createPrismaClient(url(), { poolSize: EMBEDDED_POOL_SIZE });
    try {
      const service = `embedded-${randomUUID()}`;
      const payload = Uint8Array.from([0, 1, 2, 253, 254, 255]);
      const seenAt = new Date('2026-05-06T07:08:09.123Z');
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          prisma.serviceHeartbeat.create({
            data: { id: `${service}-${i}`, service, instanceId: `i-${i}`, seenAt, payload },
          }),
        ),
      );
      const rows = await prisma.serviceHeartbeat.findMany({ where: { service }, orderBy: { id: 'asc' } });
      expect(rows).toHaveLength(25);
      expect(rows[0]?.seenAt.toISOString()).toBe(seenAt.toISOString());
      expect(Array.from(rows[0]?.payload ?? [])).toEqual(Array.from(payload));
      const remaining = await prisma.$transaction(async (tx) => {
        await tx.serviceHeartbeat.deleteMany({ where: { service, instanceId: 'i-0' } });
        return tx.serviceHeartbeat.count({ where: { service } });
      });
      expect(remaining).toBe(24);
    } finally {
      await prisma.$disconnect();
    }
  });
});
