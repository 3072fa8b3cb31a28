/**
 * Database access for License Ledger services: the Prisma 7 client generated from
 * prisma/schema.prisma, talking to PostgreSQL through the `pg` driver adapter.
 *
 * Framework-free on purpose (no NestJS imports): the Nest wiring lives in platform-nest, and
 * scripts/tests can use this directly. The client under ./generated is produced by
 * `tools/db/generate.ts` (run on postinstall); it is git-ignored.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client';

export { Prisma, PrismaClient } from './generated/prisma/client';
export type { ServiceHeartbeat } from './generated/prisma/client';

export interface CreatePrismaClientOptions {
  /**
   * Maximum number of pooled `pg` connections (pg's `max`). Default 10, pg's own default.
   * The embedded PGlite server accepts several connections but runs one query at a time, so a
   * small pool (1–4) is enough there; a connection inside a transaction holds up all the others
   * until it ends (see tools/db/embedded-postgres.ts).
   */
  poolSize?: number;
  /** Milliseconds to wait for a pooled connection before failing (pg's default is to wait forever). */
  connectionTimeoutMillis?: number;
  /** Milliseconds an idle pooled connection is kept open. */
  idleTimeoutMillis?: number;
  /** Prisma log levels to emit on stdout (e.g. ['warn', 'error']). */
  log?: Array<'query' | 'info' | 'warn' | 'error'>;
  /** Called on errors of idle pooled connections (e.g. server restart); logged by the caller. */
  onPoolError?: (error: Error) => void;
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
    options.onPoolError ? { onPoolError: options.onPoolError } : undefined,
  );
  return new PrismaClient({ adapter, ...(options.log ? { log: options.log } : {}) });
}
