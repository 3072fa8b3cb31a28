/**
 * PostgreSQL connection targets as explicit fields, plus the few admin operations the migration
 * tooling needs (create/drop a database).
 *
 * Why fields instead of a connection string: pg lets `connectionString` win over `database`, so
 * "same server, other database" must be expressed with host/port/user/password/database fields
 * (this is what breaks @prisma/adapter-pg's own shadow-database connect).
 */
import { Client, type ClientConfig, type PoolConfig } from 'pg';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** undefined = no TLS; otherwise pg's `ssl` option. */
  ssl: { rejectUnauthorized: boolean } | undefined;
}

const SUPPORTED_PROTOCOLS = new Set(['postgres:', 'postgresql:']);

/** Parses a postgres:// URL into fields. Throws a readable error for anything unsupported. */
export function parseDatabaseUrl(databaseUrl: string): PgTarget {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error(`DATABASE_URL is not a valid URL: ${redactUrl(databaseUrl)}`);
  }
  if (!SUPPORTED_PROTOCOLS.has(url.protocol)) {
    throw new Error(`DATABASE_URL must start with postgresql:// (got ${url.protocol}//)`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '') {
    throw new Error(`DATABASE_URL has no database name: ${redactUrl(databaseUrl)}`);
  }
  // Prisma's `?schema=` is not supported by this tooling: everything lives in `public`.
  const schema = url.searchParams.get('schema');
  if (schema !== null && schema !== 'public') {
    throw new Error(`DATABASE_URL ?schema=${schema} is not supported; only the public schema is used`);
  }
  const sslmode = url.searchParams.get('sslmode');
  const ssl =
    sslmode === null || sslmode === 'disable' || sslmode === 'prefer' || sslmode === 'allow'
      ? undefined
      : { rejectUnauthorized: sslmode === 'verify-ca' || sslmode === 'verify-full' };
  // `?host=/var/run/postgresql` selects a Unix socket directory, as in libpq.
  const host = url.searchParams.get('host') ?? (url.hostname === '' ? 'localhost' : url.hostname);
  return {
    host: host.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 5432 : Number(url.port),
    user: url.username === '' ? 'postgres' : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database,
    ssl,
  };
}

/** Rebuilds a URL from fields (used for the shadow database and for printing). */
export function formatDatabaseUrl(target: PgTarget): string {
  const auth =
    encodeURIComponent(target.user) + (target.password === undefined ? '' : `:${encodeURIComponent(target.password)}`);
  const unixSocket = target.host.startsWith('/');
  const hostPart = unixSocket ? 'localhost' : target.host.includes(':') ? `[${target.host}]` : target.host;
  const params = new URLSearchParams();
  if (unixSocket) params.set('host', target.host);
  if (target.ssl) params.set('sslmode', target.ssl.rejectUnauthorized ? 'verify-full' : 'require');
  const query = params.toString() === '' ? '' : `?${params.toString()}`;
  return `postgresql://${auth}@${hostPart}:${target.port}/${encodeURIComponent(target.database)}${query}`;
}

/** Hides the password of a URL for logs and error messages. */
export function redactUrl(databaseUrl: string): string {
  return databaseUrl.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

export function poolConfig(target: PgTarget, max: number): PoolConfig {
  return { ...clientConfig(target), max, idleTimeoutMillis: 5_000 };
}

export function clientConfig(target: PgTarget): ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.ssl ? { ssl: target.ssl } : {}),
    connectionTimeoutMillis: 15_000,
  };
}

/** Double-quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The `code` of a PostgreSQL/pg error, if it has one. Works across realms (Jest), no instanceof. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code: unknown = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    const message: unknown = error.message;
    if (typeof message === 'string' && message !== '') return message;
  }
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** Runs `fn` with a single short-lived client on `target`; always closes it. */
export async function withClient<T>(target: PgTarget, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client(clientConfig(target));
  // An 'error' event without a listener would crash the process (e.g. server shutdown).
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The maintenance database used for CREATE/DROP DATABASE. */
export function maintenanceTarget(target: PgTarget): PgTarget {
  return { ...target, database: target.database === 'postgres' ? 'template1' : 'postgres' };
}

/**
 * Creates `target.database` when it does not exist. Returns true when it was created.
 * Probes by connecting to it first, so a server without CREATE rights on an existing database
 * (or the embedded server, which ignores database names) needs no admin access.
 */
export async function ensureDatabaseExists(target: PgTarget): Promise<boolean> {
  try {
    await withClient(target, async (client) => {
      await client.query('SELECT 1');
    });
    return false;
  } catch (error) {
    // 3D000 = invalid_catalog_name: the database does not exist. Anything else is a real failure.
    if (errorCode(error) !== '3D000') throw error;
  }
  await withClient(maintenanceTarget(target), async (client) => {
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(target.database)}`);
    } catch (error) {
      // 42P04 = duplicate_database: someone else created it in between; that is fine.
      if (errorCode(error) !== '42P04') throw error;
    }
  });
  return true;
}

/** Drops `target.database` if it exists, disconnecting other sessions first (PostgreSQL ≥ 13). */
export async function dropDatabase(target: PgTarget): Promise<void> {
  await withClient(maintenanceTarget(target), async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(target.database)} WITH (FORCE)`);
  });
}

/**
 * The database a connection to `target` actually reaches. Differs from `target.database` behind a
 * pooler or proxy that ignores database names.
 */
export async function currentDatabase(target: PgTarget): Promise<string> {
  return withClient(target, async (client) => {
    const result = await client.query<{ db: string }>('SELECT current_database() AS db');
    const row = result.rows[0];
    if (!row) throw new Error('SELECT current_database() returned no row');
    return row.db;
  });
}
