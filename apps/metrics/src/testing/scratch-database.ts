import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';

const MIGRATIONS_DIR = path.resolve(__dirname, '../../../../prisma/migrations');

export interface ScratchDatabase {
  readonly schema: string;
  /** DATABASE_URL whose connections use the scratch schema (search_path), for the service under test. */
  readonly url: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** For integration tests: a fresh schema holding the repository's migrations (as libs/lease/projection does). */
export async function createScratchDatabase(databaseUrl: string): Promise<ScratchDatabase> {
  const schema = `scratch_metrics_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const client = new Client({ connectionString: databaseUrl });
  // The next query fails if the connection drops; the 'error' event alone must not end the test run.
  client.on('error', () => undefined);
  await client.connect();
  await client.query(`CREATE SCHEMA "${schema}"`);
  await client.query(`SET search_path TO "${schema}"`);
  const migrations = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const migration of migrations) await client.query(await readFile(path.join(MIGRATIONS_DIR, migration, 'migration.sql'), 'utf8'));
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    url: url.toString(),
    query: async <T>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[],
    drop: async () => {
      try {
        await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
