/**
 * Database access for License Ledger services: the Prisma 7 client generated from
 * prisma/schema.prisma, talking to PostgreSQL through the `pg` driver adapter.
 *
 * Framework-free on purpose (no NestJS imports): the Nest wiring lives in platform-nest, and
 * scripts/tests can use this directly. The client under ./generated is produced by
 * `tools/db/generate.ts` (run on postinstall); it is git-ignored.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool, PoolClient } from 'pg';
import { PrismaClient } from './generated/prisma/client';

export { Prisma, PrismaClient } from './generated/prisma/client';
export type { ServiceHeartbeat } from './generated/prisma/client';

export interface CreatePrismaClientOptions {
  /**
   * Maximum number of pooled `pg` connections (pg's `max`). Default 10, pg's own default.
   */
  poolSize?: number;
  /** Milliseconds to wait for a pooled connection before failing (pg's default is to wait forever). */
  connectionTimeoutMillis?: number;
  /** Milliseconds an idle pooled connection is kept open. */
  idleTimeoutMillis?: number;
  /** Prisma log levels to emit on stdout (e.g. ['warn', 'error']). */
  log?: Array<'query' | 'info' | 'warn' | 'error'>;
  /**
   * Called on errors of pooled connections, idle or inside a transaction (e.g. a server restart);
   * logged by the caller. Without it they are ignored: the query that needed the connection fails
   * by itself, and an unhandled 'error' event would kill the process.
   */
  onPoolError?: (error: Error) => void;
}

/**
 * Makes sure no 'error' event of `pool` or of any of its clients goes unhandled (which would kill
 * the process). pg's pool listens on idle clients only; a client checked out (between the queries
 * of a transaction, while streaming COPY) has no listener unless one is added here.
 */
export function handlePoolErrors(pool: Pool, onError: (error: Error) => void): void {
  // Every client's errors are reported once, by its own listener, whether it is idle or checked
  // out; the pool re-emits idle clients' errors, which must be listened to but are already reported.
  pool.on('connect', (client: PoolClient) => client.on('error', onError));
  pool.on('error', () => undefined);
}

/**
 * Builds a PrismaClient bound to `databaseUrl` through @prisma/adapter-pg. The pool is created
 * lazily on the first query; call `$disconnect()` on shutdown to end it.
 */
export function createPrismaClient(
  databaseUrl: string,
  options: CreatePrismaClientOptions = {},
): PrismaClient {
  if (databaseUrl.trim() === '') {
    throw new Error('createPrismaClient: databaseUrl is empty (set DATABASE_URL)');
  }
  const adapter = new PrismaPg(
    {
      connectionString: databaseUrl,
      max: options.poolSize ?? 10,
      ...(options.connectionTimeoutMillis !== undefined
        ? { connectionTimeoutMillis: options.connectionTimeoutMillis }
        : {}),
      ...(options.idleTimeoutMillis !== undefined ? { idleTimeoutMillis: options.idleTimeoutMillis } : {}),
    },
    // The adapter always listens on its pool; these route what it hears to the caller.
    { onPoolError: options.onPoolError ?? ignore, onConnectionError: options.onPoolError ?? ignore },
  );
  return new PrismaClient({ adapter, ...(options.log ? { log: options.log } : {}) });
}

const ignore = (): void => undefined;
