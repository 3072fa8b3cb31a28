/**
 * Integration test: the embedded PostgreSQL is a real server. It takes the migrations, serves
 * concurrent transactions on several connections and COPY (what PGlite could not), keeps its data
 * across a restart, takes over a cluster orphaned by a killed parent, and leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Client, Pool } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createPrismaClient } from '@license-ledger/platform-database';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { migrateDeploy, migrateStatus } from './migrate';

jest.setTimeout(120_000);

function serverPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL, throw-away cluster', () => {
  let server: EmbeddedPostgres;

  beforeAll(async () => {
    server = await startEmbeddedPostgres({ database: 'embedded_test' });
  });

  afterAll(async () => {
    await server.stop();
  });

  it('is PostgreSQL 18 and takes the migrations, idempotently', async () => {
    const client = new Client({ connectionString: server.url });
    await client.connect();
    const version = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    await client.end();
    expect(version.rows[0]?.v).toMatch(/^18\./);
    expect((await migrateDeploy(server.url)).applied.length).toBeGreaterThan(0);
    expect((await migrateDeploy(server.url)).applied).toEqual([]);
    expect((await migrateStatus(server.url)).upToDate).toBe(true);
  });

  it('runs transactions on several connections at once', async () => {
    const pool = new Pool({ connectionString: server.url, max: 8 });
    pool.on('error', () => undefined);
    try {
      // Eight transactions each hold a row lock until all have started: a server that ran one
      // connection's transaction at a time would deadlock here.
      await pool.query('CREATE TABLE concurrent (id int PRIMARY KEY)');
      let started = 0;
      let release: () => void = () => undefined;
      const allStarted = new Promise<void>((resolve) => (release = resolve));
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await client.query('INSERT INTO concurrent VALUES ($1)', [i]);
            if (++started === 8) release();
            await allStarted;
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        }),
      );
      expect((await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM concurrent')).rows[0]?.n).toBe(8);
    } finally {
      await pool.end();
    }
  });

  it('takes COPY FROM STDIN, which the metrics sink streams', async () => {
    const client = new Client({ connectionString: server.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE copied (id int, name text)');
      const rows = Array.from({ length: 1000 }, (_, i) => `${i}\tname ${i}\n`).join('');
      await pipeline(Readable.from([rows]), client.query(copyFrom('COPY copied FROM STDIN')));
      const result = await client.query<{ n: number; last: string }>('SELECT count(*)::int AS n, max(name) AS last FROM copied');
      expect(result.rows[0]).toEqual({ n: 1000, last: 'name 999' });
    } finally {
      await client.end();
    }
  });

  it('serves the Prisma client', async () => {
    const prisma = createPrismaClient(server.url, { poolSize: 4 });
    try {
      const seenAt = new Date('2026-05-06T07:08:09.123Z');
      const payload = Uint8Array.from([0, 1, 254, 255]);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          prisma.serviceHeartbeat.create({ data: { id: `embedded-${i}`, service: 'embedded', instanceId: `i-${i}`, seenAt, payload } }),
        ),
      );
      const rows = await prisma.serviceHeartbeat.findMany({ where: { service: 'embedded' }, orderBy: { id: 'asc' } });
      expect(rows).toHaveLength(10);
      expect(rows[0]?.seenAt.toISOString()).toBe(seenAt.toISOString());
      expect(Array.from(rows[0]?.payload ?? [])).toEqual(Array.from(payload));
    } finally {
      await prisma.$disconnect();
    }
  });
});

describe('embedded PostgreSQL, kept cluster', () => {
  let parent: string;

  beforeAll(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'embedded-pg-spec-'));
    await chmod(parent, 0o755); // mkdtemp's 0700 would keep the server's user out (when run as root)
  });

  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('keeps its data across a restart and stops its process', async () => {
    const dataDir = path.join(parent, 'kept');
    const first = await startEmbeddedPostgres({ dataDir });
    const pid = serverPid(dataDir);
    const client = new Client({ connectionString: first.url });
    await client.connect();
    await client.query(`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')`);
    await client.end();
    await first.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);

    const second = await startEmbeddedPostgres({ dataDir });
    try {
      const again = new Client({ connectionString: second.url });
      await again.connect();
      const rows = await again.query<{ v: string }>('SELECT v FROM kept');
      await again.end();
      expect(rows.rows).toEqual([{ v: 'still here' }]);
    } finally {
      await second.stop();
    }
  });

  /** Starts the CLI on `dataDir` and resolves once it has printed its URL. */
  async function startCli(dataDir: string): Promise<ChildProcess> {
    const cli = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, path.join(__dirname, 'embedded-postgres.ts'), '--port', '0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      cli.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('DATABASE_URL=postgresql://')) resolve();
      });
      cli.once('exit', (code) => reject(new Error(`CLI exited early with ${code}`)));
    });
    return cli;
  }

  async function killHard(pid: number): Promise<void> {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** The watchdog guarding `serverPid` (its command line carries that pid). */
  function watchdogOf(serverPid: number): number {
    const found = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .find((entry) => {
        let args: string[];
        try {
          args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        } catch {
          return false; // gone meanwhile
        }
        return args.includes('watchdog') && args.includes(String(serverPid));
      });
    if (found === undefined) throw new Error(`no watchdog guards ${serverPid}`);
    return Number(found);
  }

  it('stops the server when the process that started it is killed (-9)', async () => {
    const dataDir = path.join(parent, 'watched');
    const cli = await startCli(dataDir);
    const server = serverPid(dataDir);
    await killHard(cli.pid as number);
    const deadline = Date.now() + 30_000;
    while (alive(server) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(server)).toBe(false);
  });

  it('takes over a cluster left running when its starter and the watchdog were both killed', async () => {
    const dataDir = path.join(parent, 'orphaned');
    const cli = await startCli(dataDir);
    const orphan = serverPid(dataDir);
    await killHard(watchdogOf(orphan));
    await killHard(cli.pid as number);
    expect(alive(orphan)).toBe(true);

    const server = await startEmbeddedPostgres({ dataDir });
    try {
      expect(alive(orphan)).toBe(false);
      expect(serverPid(dataDir)).not.toBe(orphan);
    } finally {
      await server.stop();
    }
  });

  it('removes a throw-away cluster on stop', async () => {
    const server = await startEmbeddedPostgres();
    const pid = serverPid(server.dataDir);
    await server.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
  });
});
