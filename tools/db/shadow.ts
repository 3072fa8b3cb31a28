/**
 * Shadow databases for the schema engine: scratch databases where it replays the migrations to
 * learn the schema they produce (for `create` and the drift check of `status`).
 *
 * On a real server: a temporary database per request, created and dropped here, reached through
 * host/port/user/database fields (never `connectionString`, which would win over `database` and
 * silently point at the main database). On the embedded PGlite server (which ignores database
 * names) or without CREATEDB rights: a second, in-memory PGlite (child process).
 */
import { randomBytes } from 'node:crypto';
import type { EmbeddedPostgres } from './embedded-postgres';
import {
  currentDatabase,
  dropDatabase,
  maintenanceTarget,
  parseDatabaseUrl,
  errorCode,
  quoteIdent,
  withClient,
  type PgTarget,
} from './pg-target';
import type { ShadowDatabase } from './schema-engine';

export interface ShadowProvider {
  acquire(): Promise<ShadowDatabase>;
  /** Stops anything the provider started (the embedded instance). */
  close(): Promise<void>;
}

/** True when `target` is served by PGlite (one database whatever the name in the URL). */
export async function isPglite(target: PgTarget): Promise<boolean> {
  return withClient(target, async (client) => {
    const result = await client.query<{ v: string }>('SELECT version() AS v');
    return (result.rows[0]?.v ?? '').includes('PGlite');
  });
}

/**
 * @param reuseEmbeddedUrl an embedded server this command owns and whose content does not matter;
 *        used as the shadow instead of starting another one.
 */
export function createShadowProvider(
  main: PgTarget | undefined,
  mainIsPglite: boolean,
  log: (line: string) => void,
  reuseEmbeddedUrl?: string,
): ShadowProvider {
  let embedded: EmbeddedPostgres | undefined;
  let useEmbedded = main === undefined || mainIsPglite;

  const acquireEmbedded = async (): Promise<ShadowDatabase> => {
    if (!embedded && reuseEmbeddedUrl === undefined) {
      log('Starting an in-memory embedded PostgreSQL as shadow database…');
      // A child process: PGlite cannot load inside Jest's sandbox, and its own event loop is
      // safe from anything this process does. Lazy import: deploy-only callers skip it.
      const { spawnEmbeddedPostgres } = await import('./embedded-postgres');
      embedded = await spawnEmbeddedPostgres({ port: 0, forwardStderr: false });
    }
    const target = parseDatabaseUrl(reuseEmbeddedUrl ?? embedded?.url ?? '');
    return {
      target,
      // One instance serves every request of this command; wipe it between uses.
      release: () =>
        withClient(target, async (client) => {
          await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
        }),
    };
  };

  const acquireOnServer = async (server: PgTarget): Promise<ShadowDatabase | undefined> => {
    const name = `prisma_shadow_${process.pid}_${randomBytes(4).toString('hex')}`;
    const target: PgTarget = { ...server, database: name };
    try {
      await withClient(maintenanceTarget(server), (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
    } catch (error) {
      // 42501 insufficient_privilege: no CREATEDB right; fall back to the embedded shadow.
      if (errorCode(error) === '42501') return undefined;
      throw error;
    }
    const release = (): Promise<void> => dropDatabase(target);
    // Safety net: if the server does not route by database name, the "shadow" would be the
    // main database, which the engine would wipe.
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
      if (!useEmbedded && main) {
        const onServer = await acquireOnServer(main);
        if (onServer) return onServer;
        log('No CREATEDB right on the server; using an embedded shadow database instead.');
        useEmbedded = true;
      }
      return acquireEmbedded();
    },
    close: async () => {
      await embedded?.stop();
      embedded = undefined;
    },
  };
}
