/**
 * Integration test: the migration tooling against the real PostgreSQL server of DATABASE_URL,
 * in a throw-away database (random name, dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { DEFAULT_MIGRATIONS_DIR, migrateDeploy, migrateReset, migrateStatus } from './migrate';
import { dropDatabase, formatDatabaseUrl, parseDatabaseUrl, withClient, type PgTarget } from './pg-target';

jest.setTimeout(120_000);

const serverUrl = process.env['DATABASE_URL'];
const migrationNames = readdirSync(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('tools/db migrate on a fresh database (DATABASE_URL server)', () => {
  let target: PgTarget | undefined;
  let url: string;

  beforeAll(async () => {
    if (serverUrl === undefined || serverUrl === '') {
      throw new Error(
        'DATABASE_URL is not set: the migration integration test needs a PostgreSQL server where it may ' +
          'create and drop a database, e.g. DATABASE_URL=postgresql://postgres@127.0.0.1:5432/license_ledger_dev',
      );
    }
    const server = parseDatabaseUrl(serverUrl);
    target = { ...server, database: `ll_migrate_test_${randomBytes(5).toString('hex')}` };
    url = formatDatabaseUrl(target);
  });

  afterAll(async () => {
    if (target) await dropDatabase(target);
  });

  function db(): PgTarget {
    if (!target) throw new Error('no target database (see beforeAll)');
    return target;
  }

  it('has at least one migration to deploy', () => {
    expect(migrationNames.length).toBeGreaterThan(0);
  });

  it('creates the database and applies every migration, recording them in _prisma_migrations', async () => {
    const result = await migrateDeploy(url);
    expect(result.createdDatabase).toBe(true);
    expect(result.applied).toEqual(migrationNames);

    await withClient(db(), async (client) => {
      const table = await client.query<{ t: string | null }>(`SELECT to_regclass('public.service_heartbeat')::text AS t`);
      expect(table.rows[0]?.t).toBe('service_heartbeat');
      const applied = await client.query<{ migration_name: string; ok: boolean }>(
        `SELECT migration_name, finished_at IS NOT NULL AND rolled_back_at IS NULL AS ok
           FROM _prisma_migrations ORDER BY migration_name`,
      );
      expect(applied.rows).toEqual(migrationNames.map((name) => ({ migration_name: name, ok: true })));
    });
  });

  it('is a no-op the second time, also when two deploys race', async () => {
    const [first, second] = await Promise.all([migrateDeploy(url), migrateDeploy(url)]);
    expect(first).toEqual({ applied: [], createdDatabase: false });
    expect(second).toEqual({ applied: [], createdDatabase: false });
    await withClient(db(), async (client) => {
      const rows = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM _prisma_migrations');
      expect(rows.rows[0]?.n).toBe(migrationNames.length);
    });
  });

  it('reports the database up to date with no schema drift', async () => {
    const status = await migrateStatus(url);
    expect(status.pending).toEqual([]);
    expect(status.failed).toEqual([]);
    expect(status.schemaDriftSql).toBe('');
    expect(status.applied.map((m) => m.name)).toEqual(migrationNames);
    expect(status.upToDate).toBe(true);
  });

  it('reset gives an empty database with all migrations applied again', async () => {
    await withClient(db(), (client) =>
      client.query(`INSERT INTO service_heartbeat (id, service, instance_id, seen_at) VALUES ('x', 's', 'i', now())`),
    );
    const result = await migrateReset(url);
    expect(result.applied).toEqual(migrationNames);
    await withClient(db(), async (client) => {
      const rows = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM service_heartbeat');
      expect(rows.rows[0]?.n).toBe(0);
    });
  });
});
