import { ChildProcess, execFile, spawn } from 'node:child_process';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@license-ledger/platform-testing';
import { isAlive, ownInfrastructureEnv, pidsMentioning } from './faults/rig';
import { workspaceRoot } from './support/built-service';

/**
 * The README, as a newcomer walks it: `npm start` with no KAFKA_BROKERS or DATABASE_URL (so its own
 * Kafka broker and embedded PostgreSQL), the ledger-cli steps, the reference gateway client's
 * --fetch-token-only, its telemetry stored and answered by a signed analyst query, Ctrl-C with
 * nothing left running; then `npm start` again on the same data: state and telemetry still there,
 * a renewal answered. Only ports and the data directory differ from the README's defaults.
 */
const run = promisify(execFile);
jest.setTimeout(600_000);

/** The environment a newcomer has: none of the test run's infrastructure variables, no log level. */
function newcomerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...ownInfrastructureEnv(), ...extra };
  delete env['LOG_LEVEL'];
  return env;
}

interface StartedSystem {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
  /** Pids of everything it reported or started: services, the broker and the database server. */
  readonly pids: number[];
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the README walk-through on the embedded defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-walk-'));
  chmodSync(dir, 0o755); // the embedded server runs as the postgres user and must reach its data
  const dataDir = join(dir, 'data');
  const gw = join(dir, 'gw');
  const started: StartedSystem[] = [];
  let ports: Record<'ingress' | 'lease' | 'metrics' | 'kafka' | 'controller' | 'postgres', number>;

  beforeAll(async () => {
    ports = {
      ingress: await freePort(),
      lease: await freePort(),
      metrics: await freePort(),
      kafka: await freePort(),
      controller: await freePort(),
      postgres: await freePort(),
    };
  });

  afterAll(() => {
    for (const system of started) {
      if (system.child.exitCode === null && system.child.signalCode === null && system.child.pid) {
        try {
          process.kill(-system.child.pid, 'SIGKILL');
        } catch {
          // the group is gone already
        }
      }
      for (const pid of system.pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (): NodeJS.ProcessEnv =>
    newcomerEnv({
      LICENSE_LEDGER_DATA_DIR: dataDir,
      INGRESS_PORT: String(ports.ingress),
      LEASE_PORT: String(ports.lease),
      METRICS_PORT: String(ports.metrics),
      LOCAL_KAFKA_PORT: String(ports.kafka),
      LOCAL_KAFKA_CONTROLLER_PORT: String(ports.controller),
      LOCAL_POSTGRES_PORT: String(ports.postgres),
    });
  const brokers = (): string => `127.0.0.1:${ports.kafka}`;
  const databaseUrl = (): string => `postgresql://postgres@127.0.0.1:${ports.postgres}/license_ledger`;

  /** `npm start` in its own process group, so Ctrl-C can reach the whole group as a terminal's does. */
  async function npmStart(): Promise<StartedSystem> {
    const child = spawn('npm', ['start'], { cwd: workspaceRoot, env: env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    // Closed once npm and everything writing to its output (start.ts) are gone: on Ctrl-C npm may die
    // of the signal before start.ts has stopped the services, as in a terminal.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', () => {
        if (output.join('').includes('Press Ctrl-C to stop.')) resolve();
      });
      void exited.then((code) => reject(new Error(`npm start exited with ${code} before it was ready:\n${output.join('')}`)));
    });
    await ready;
    const text = output.join('');
    const servicePids = [...text.matchAll(/\(pid (\d+);/g)].map((match) => Number(match[1]));
    const infrastructure = [...pidsMentioning(join(dataDir, 'kafka')), ...pidsMentioning(join(dataDir, 'postgres'))];
    const system = { child, output, exited, pids: [...servicePids, ...infrastructure] };
    started.push(system);
    expect(servicePids).toHaveLength(3);
    expect(infrastructure.length).toBeGreaterThanOrEqual(2);
    for (const port of [ports.ingress, ports.lease, ports.metrics]) {
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
    }
    return system;
  }

  /** Ctrl-C: SIGINT to the foreground process group, then nothing of it may be left. */
  async function ctrlC(system: StartedSystem): Promise<void> {
    if (!system.child.pid) throw new Error('npm start has no pid');
    process.kill(-system.child.pid, 'SIGINT');
    // npm's own exit code on Ctrl-C is npm's (0, 130 or death by the signal); what matters is below.
    await system.exited;
    expect(system.output.join('')).toContain('stopped; nothing left running');
    expect(system.pids.filter(isAlive)).toEqual([]);
    for (const port of Object.values(ports)) expect({ port, listening: await listening(port) }).toEqual({ port, listening: false });
  }

  const ledgerCli = (...args: string[]): Promise<{ stdout: string }> =>
    run('npm', ['run', '--silent', 'ledger', '--', ...args], { cwd: workspaceRoot, env: { ...env(), KAFKA_BROKERS: brokers(), DATABASE_URL: databaseUrl() } });

  const gatewayClient = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, [join(workspaceRoot, 'dist/apps/gateway-client/apps/gateway-client/src/main.js'), ...args], { cwd: dir, env: env() });

  /** A signed analyst query as the README's curl example makes it. */
  async function analystQuery(keyId: string, privateKeyPem: string, path: string): Promise<{ status: number; body: string }> {
    const signature = createSign('sha256').update(`GET:${path}`).sign(privateKeyPem, 'base64');
    const response = await fetch(`http://127.0.0.1:${ports.metrics}${path}`, { headers: { 'X-API-Key': keyId, 'X-API-Signature': signature } });
    return { status: response.status, body: await response.text() };
  }

  /** Reports stored for the README's gateway (package fix-gateway), polled until at least `atLeast`. */
  async function storedReports(keyId: string, privateKeyPem: string, atLeast: number): Promise<number> {
    const path = `/v1/gateways?from=2026-01-01T00:00:00Z&to=2099-01-01T00:00:00Z`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const answer = await analystQuery(keyId, privateKeyPem, path);
      expect(answer.status).toBe(200);
      const sessions = (JSON.parse(answer.body) as { sessions: Array<{ package_name: string; reports: number }> }).sessions;
      const reports = sessions.filter((s) => s.package_name === 'fix-gateway').reduce((sum, s) => sum + s.reports, 0);
      if (reports >= atLeast) return reports;
      if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} reports stored within 60 s: ${answer.body}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('licenses a gateway, stores its telemetry, answers an analyst, and does it all again after a restart', async () => {
    const first = await npmStart();
    expect(first.output.join('')).toContain('database: starting embedded PostgreSQL');
    expect(first.output.join('')).toContain('kafka: starting a local broker');

    // README: "Licensing a gateway against npm start".
    await gatewayClient('keygen', '--out', gw);
    await ledgerCli('agreement', 'open', '--id', 'acme', '--name', 'ACME', '--licenses', '2');
    await ledgerCli('key', 'bind', '--agreement', 'acme', '--key', join(gw, 'gateway.pub'));
    const keys = join(dataDir, 'keys');
    writeFileSync(
      join(gw, 'gateway.toml'),
      [
        '[license]',
        'package_name = "fix-gateway"',
        `servers = ["http://127.0.0.1:${ports.ingress}"]`,
        `server_box_public_key = "${readFileSync(join(keys, 'server-box.pub'), 'utf8').trim()}"`,
        `server_sign_public_key = "${readFileSync(join(keys, 'server-sign.pub'), 'utf8').trim()}"`,
        `state_dir = "${join(gw, 'state')}"`,
        '',
        '[accounts.primary]',
        'login = "A1"',
        '',
      ].join('\n'),
    );
    const fetchToken = (): Promise<{ stdout: string }> =>
      gatewayClient('run', '--config', join(gw, 'gateway.toml'), '--key', join(gw, 'gateway.key'), '--fetch-token-only');
    await fetchToken();
    expect(readdirSync(join(gw, 'state')).length).toBeGreaterThan(0);

    // README: "Analysts' metrics API": register a key, then one signed query shows the gateway.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(join(dir, 'alice.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const created = await run('npx', ['tsx', 'tools/metrics/api-keys.ts', 'create', '--owner', 'alice', '--public-key', join(dir, 'alice.pub.pem')], {
      cwd: workspaceRoot,
      env: { ...env(), DATABASE_URL: databaseUrl() },
    });
    const keyId = /(alice-[0-9a-f]+)/.exec(created.stdout)?.[1];
    if (keyId === undefined) throw new Error(`no key id in: ${created.stdout}`);
    expect(await storedReports(keyId, privatePem, 1)).toBe(1);
    const wrongSignature = await analystQuery(keyId, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), '/v1/usage');
    expect(wrongSignature.status).toBe(401);

    await ctrlC(first);

    // Again on the same data: everything comes back with what it had.
    const second = await npmStart();
    expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    const list = await ledgerCli('list');
    expect(list.stdout).toMatch(/acme\s.*1\/2/); // the agreement and its one live lock
    expect(await storedReports(keyId, privatePem, 1)).toBe(1);
    await fetchToken(); // a renewal of the same config hash's lock, with its telemetry
    expect(await storedReports(keyId, privatePem, 2)).toBe(2);
    await ctrlC(second);
  });
});
