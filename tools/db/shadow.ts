/**
 * Shadow databases for the schema engine: scratch databases where it replays the migrations to
 * learn the schema they produce (for `create` and the drift check of `status`).
 *
 * A temporary database per request, created and dropped here, reached through host/port/user/
 * database fields (never `connectionString`, which would win over `database` and silently point at
 * the main database). Without the CREATEDB right on the main server (a managed PostgreSQL often
 * grants none), the temporary databases go to a throw-away embedded server instead.
 */
import { randomBytes } from 'node:crypto';
import type { EmbeddedPostgres } from './embedded-postgres';
import { currentDatabase, dropDatabase, errorCode, maintenanceTarget, parseDatabaseUrl, quoteIdent, withClient, type PgTarget } from './pg-target';
import type { ShadowDatabase } from './schema-engine';

export interface ShadowProvider {
  acquire(): Promise<ShadowDatabase>;
  /** Stops anything the provider started (the embedded server). */
  close(): Promise<void>;
}

export function createShadowProvider(main: PgTarget, log: (line: string) => void): ShadowProvider {
  let embedded: EmbeddedPostgres | undefined;
  let server = main;

  const onServer = async (host: PgTarget): Promise<ShadowDatabase | undefined> => {
    const name = `prisma_shadow_${process.pid}_${randomBytes(4).toString('hex')}`;
    const target: PgTarget = { ...host, database: name };
    try {
      await withClient(maintenanceTarget(host), (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
    } catch (error) {
      // 42501 insufficient_privilege: no CREATEDB right.
      if (errorCode(error) === '42501') return undefined;
      throw error;
    }
    const release = (): Promise<void> => dropDatabase(target);
    // Safety net: a server (or pooler) that does not route by database name would make the
    // "shadow" the main database, which the engine wipes.
    const actual = await currentDatabase(target).catch(async (error: unknown) => {
      await release();
      throw error;
    });
    if (actual !== name) {
      await release().catch(() => undefined);
      throw new Error(`Server ignores database names (connected to "${actual}", asked for "${name}")`);
    }
    return { target, release };
  };

  return {
    acquire: async () => {
      const shadow = await onServer(server);
      if (shadow) return shadow;
      if (embedded) throw new Error('the embedded shadow server refused CREATE DATABASE');
      log('No CREATEDB right on the server; using a throw-away embedded PostgreSQL for shadow databases.');
      const { startEmbeddedPostgres } = await import('./embedded-postgres'); // lazy: most runs never need it
      embedded = await startEmbeddedPostgres({ database: 'postgres' });
      server = parseDatabaseUrl(embedded.url);
      const fallback = await onServer(server);
      if (!fallback) throw new Error('the embedded shadow server refused CREATE DATABASE');
      return fallback;
    },
    close: async () => {
      await embedded?.stop();
      embedded = undefined;
    },
  };
}
