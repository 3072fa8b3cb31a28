import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@license-ledger/platform-database';
import { Client } from 'pg';

const MIGRATIONS_DIR = path.resolve(__dirname, '../../../../prisma/migrations');

export interface ScratchSchema {
  readonly schema: string;
  readonly prisma: PrismaClient;
  /** Another client bound to the schema, for code that disconnects the client it is given. */
  newClient(): PrismaClient;
  /** Disconnects and drops the schema with everything in it. */
  drop(): Promise<void>;
}

/**
 * For integration tests: a fresh PostgreSQL schema holding the repository's migrations, and a
 * Prisma client bound to it. A schema rather than a database: creating one is cheap and needs no
 * CREATEDB right; tests that empty or compare the whole projection never see each other's rows.
 */
export async function createScratchSchema(databaseUrl: string): Promise<ScratchSchema> {
  const schema = `scratch_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const client = new Client({ connectionString: databaseUrl });
  // The next query fails if the connection drops; the 'error' event alone must not end the test run.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`SET search_path TO "${schema}"`);
    const migrations = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    for (const migration of migrations) await client.query(await readFile(path.join(MIGRATIONS_DIR, migration, 'migration.sql'), 'utf8'));
  } finally {
    await client.end();
  }
  // The adapter's `schema` qualifies Prisma's own queries; search_path does the same for raw SQL.
  const newClient = (): PrismaClient =>
    new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 4, options: `-c search_path="${schema}"` }, { schema }) });
  const prisma = newClient();
  return {
    schema,
    prisma,
    newClient,
    drop: async () => {
      await prisma.$disconnect();
      const dropper = new Client({ connectionString: databaseUrl });
      dropper.on('error', () => undefined);
      await dropper.connect();
      try {
        await dropper.query(`DROP SCHEMA "${schema}" CASCADE`);
      } finally {
        await dropper.end();
      }
    },
  };
}
