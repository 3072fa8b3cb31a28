/**
 * Embedded PostgreSQL for machines without a server: PGlite (PostgreSQL compiled to Wasm) served
 * over the PostgreSQL wire protocol by @electric-sql/pglite-socket, so `pg`, @prisma/adapter-pg and
 * the migration tooling use it like any server.
 *
 * Library:  startEmbeddedPostgres({ port?, dataDir? }) → { url, stop() }  (in this process)
 *           spawnEmbeddedPostgres({ port?, dataDir? })  → { url, stop() }  (as a child process)
 * CLI:      tsx tools/db/embedded-postgres.ts [--port 5433] [--host 127.0.0.1] [--data-dir .data/pglite]
 *           prints `embedded-postgres ready DATABASE_URL=postgresql://…` and stops on SIGINT/SIGTERM.
 *
 * Facts (pglite 0.5.14, pglite-socket 0.2.17) that shape this file:
 *  - The server ignores the database name: every connection reaches the single PGlite database,
 *    so CREATE DATABASE gives nothing separate (a shadow database needs a second instance).
 *  - pglite-socket's default maxConnections is 1: a second connection gets "Too many connections"
 *    and is closed (pg reports "Connection terminated unexpectedly"). With maxConnections > 1 it
 *    serialises queries from all connections and, while one connection is inside a transaction,
 *    runs only that connection's queries. Checked here: 1000 concurrent parameterised queries over
 *    5 and 20 pooled connections and 100 concurrent commit/rollback transactions gave exact
 *    results. So we allow DEFAULT_MAX_CONNECTIONS; clients may use a pool of several connections
 *    (no parallelism is gained; EMBEDDED_POOL_SIZE is the recommended size).
 *    Caveat: a connection that stays inside a transaction blocks every other connection until it
 *    ends (so code that opens a transaction and then waits for another connection deadlocks here,
 *    though not on a real server).
 *  - PGlite runs on this process's event loop: never block it (no execFileSync/spawnSync of a client
 *    while it serves), or its clients hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export const DEFAULT_MAX_CONNECTIONS = 32;
/** Recommended pg/Prisma pool size for clients of the embedded server. */
export const EMBEDDED_POOL_SIZE = 4;
const READY_PREFIX = 'embedded-postgres ready DATABASE_URL=';

export interface EmbeddedPostgresOptions {
  /** TCP port; 0 (default) lets the OS pick a free one (read it from `url`/`port`). */
  port?: number;
  /** Interface to bind; loopback by default. */
  host?: string;
  /** Directory to persist the data in (created if missing). Omitted: in memory, gone on stop. */
  dataDir?: string;
  /** Concurrent client connections accepted (see the file comment). */
  maxConnections?: number;
}

export interface EmbeddedPostgres {
  /** postgresql:// URL for pg / Prisma; the database name in it is cosmetic. */
  url: string;
  host: string;
  port: number;
  /** Stops accepting connections, closes the database (flushing it to dataDir). Idempotent. */
  stop(): Promise<void>;
}

export function embeddedDatabaseUrl(host: string, port: number): string {
  return `postgresql://postgres@${host}:${port}/postgres`;
}

/** Starts PGlite and its socket server inside this process. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = options.dataDir === undefined ? undefined : path.resolve(options.dataDir);
  const releaseLock = dataDir === undefined ? async () => undefined : await lockDataDir(dataDir);
  let db: PGlite | undefined;
  try {
    db = dataDir === undefined ? await PGlite.create() : await PGlite.create({ dataDir });
    const server = new PGLiteSocketServer({
      db,
      host,
      port: options.port ?? 0,
      maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    });
    await server.start();
    const port = listeningPort(server.getServerConn());
    const database = db;
    let stopping: Promise<void> | undefined;
    return {
      url: embeddedDatabaseUrl(host, port),
      host,
      port,
      stop: () => {
        stopping ??= (async () => {
          try {
            await server.stop();
          } finally {
            try {
              await database.close();
            } finally {
              await releaseLock();
            }
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    await db?.close().catch(() => undefined);
    await releaseLock();
    throw error;
  }
}

function listeningPort(serverConn: string): number {
  const port = Number(serverConn.slice(serverConn.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`Unexpected PGlite server address: ${serverConn}`);
  return port;
}

/**
 * PGlite has no postmaster lock: two processes on one data dir would corrupt it. A `<dir>.lock`
 * file holding our pid guards it; a lock whose pid is gone is stale and taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(path.dirname(dataDir), { recursive: true });
  const lockPath = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if (!(typeof error === 'object' && error !== null && 'code' in error && error.code === 'EEXIST')) throw error;
      const owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new Error(`Embedded PostgreSQL data dir ${dataDir} is in use by process ${owner} (${lockPath})`);
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new Error(`Could not lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EPERM';
  }
}

export interface SpawnEmbeddedPostgresOptions extends EmbeddedPostgresOptions {
  /** Milliseconds to wait for the ready line (default 60 s). */
  timeoutMs?: number;
  /** Copy the child's log lines (stderr) to ours (default true); kept for error messages anyway. */
  forwardStderr?: boolean;
}

/**
 * Runs the embedded server as a child process (its own event loop, so nothing the parent does can
 * stall it) and resolves once it is ready. The child also exits when the parent goes away
 * (--stop-on-stdin-end), so a crashed parent does not leave it behind.
 */
export function spawnEmbeddedPostgres(options: SpawnEmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const args = [...cliEntry(), '--stop-on-stdin-end', '--port', String(options.port ?? 0)];
  if (options.host !== undefined) args.push('--host', options.host);
  if (options.dataDir !== undefined) args.push('--data-dir', path.resolve(options.dataDir));
  if (options.maxConnections !== undefined) args.push('--max-connections', String(options.maxConnections));
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
    if (options.forwardStderr !== false) process.stderr.write(chunk);
  });
  return new Promise<EmbeddedPostgres>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(new Error('Embedded PostgreSQL did not become ready in time')), options.timeoutMs ?? 60_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGTERM');
      reject(stderrTail === '' ? error : new Error(`${error.message}:\n${stderrTail.trim()}`));
    };
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`Embedded PostgreSQL exited early (code ${code}, signal ${signal})`)));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      const line = buffered.split('\n').find((candidate) => candidate.startsWith(READY_PREFIX));
      if (line === undefined) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeListener('error', fail);
      child.stdout?.resume(); // keep draining so the child never blocks on a full pipe
      const url = line.slice(READY_PREFIX.length).trim();
      const parsed = new URL(url);
      resolve({ url, host: parsed.hostname, port: Number(parsed.port), stop: () => stopChild(child) });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** How to run this file as a program: through tsx when it is TypeScript source. */
function cliEntry(): string[] {
  // An absolute file URL for tsx, so the child does not depend on its working directory.
  return __filename.endsWith('.ts') ? ['--import', pathToFileURL(require.resolve('tsx')).href, __filename] : [__filename];
}

interface CliOptions {
  port: number;
  host: string;
  dataDir: string | undefined;
  maxConnections: number;
  stopOnStdinEnd: boolean;
}

function parseCliArgs(argv: string[]): CliOptions {
  const options: CliOptions = {
    port: 5433,
    host: '127.0.0.1',
    dataDir: undefined,
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    stopOnStdinEnd: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[(i += 1)];
      if (next === undefined || next === '') throw new Error(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--port':
        options.port = toInt(flag, value());
        break;
      case '--host':
        options.host = value();
        break;
      case '--data-dir':
        options.dataDir = value();
        break;
      case '--memory':
        options.dataDir = undefined;
        break;
      case '--max-connections':
        options.maxConnections = toInt(flag, value());
        break;
      case '--stop-on-stdin-end':
        options.stopOnStdinEnd = true;
        break;
      case '--help':
        process.stdout.write(
          'Usage: tsx tools/db/embedded-postgres.ts [--port 5433] [--host 127.0.0.1] [--data-dir DIR | --memory] [--max-connections N]\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`Unknown argument: ${arg}`);
    }
  }
  return options;
}

function toInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${raw}`);
  return n;
}

async function main(): Promise<void> {
  const options = parseCliArgs(process.argv.slice(2));
  const started = Date.now();
  const server = await startEmbeddedPostgres(options);
  const where = options.dataDir === undefined ? 'in memory' : `data dir ${path.resolve(options.dataDir)}`;
  process.stderr.write(`embedded-postgres: PGlite ${where}, ready in ${Date.now() - started} ms (pid ${process.pid})\n`);
  process.stdout.write(`${READY_PREFIX}${server.url}\n`);

  let stopping = false;
  const shutdown = (reason: string): void => {
    if (stopping) {
      process.stderr.write('embedded-postgres: forced exit\n');
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`embedded-postgres: ${reason}, stopping\n`);
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`embedded-postgres: stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  if (options.stopOnStdinEnd) {
    process.stdin.on('end', () => shutdown('parent closed stdin'));
    process.stdin.resume();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`embedded-postgres: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
