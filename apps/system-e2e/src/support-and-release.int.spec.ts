import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTopics } from '@license-ledger/platform-kafka';
import { eventually, freePort, integrationEnv } from '@license-ledger/platform-testing';
import { configHash, toBase64, toHex, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { startBuiltService, workspaceRoot, type BuiltService } from './support/built-service';

/**
 * Support tokens and forced release with the built services, the built ops CLI and the reference
 * gateway client (`npm run build` first): a support token lets a gateway run while no ingress is up;
 * a forced release makes the holder's next renewal fail with the 400 whose reason the client prints.
 */
const { brokers, databaseUrl } = integrationEnv();

/** The same server, another database. */
function databaseNamed(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

interface Run {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly done: Promise<{ code: number | null; out: string }>;
}

function runBuilt(app: 'ledger-cli' | 'gateway-client', args: readonly string[], env: Readonly<Record<string, string>> = {}): Run {
  const main = join(workspaceRoot, 'dist', 'apps', app, 'apps', app, 'src', 'main.js');
  const child = spawn(process.execPath, [main, ...args], { cwd: workspaceRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.once('exit', (code) => resolve({ code, out: output.join('') })));
  return { child, output, done };
}

describe('support tokens and forced release, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'support-release-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a gateway on a support token with no ingress up, and stops a holder at its next renewal after a forced release', async () => {
    const id = randomUUID().slice(0, 8);
    const topics = { commands: `suprel.${id}.commands`, events: `suprel.${id}.events`, replies: `suprel.${id}.replies` };
    await ensureTopics(brokers, [...Object.values(topics), `suprel.${id}.telemetry`].map((name) => ({ name, partitions: 3, config: {} })));
    // A database of its own: the projection keys events by (partition, offset), so lease services of
    // other tests projecting other topics into one database would shadow this test's events.
    const ownDatabaseUrl = databaseNamed(databaseUrl, `suprel_${id}`);
    execFileSync(process.execPath, [require.resolve('tsx/cli'), 'tools/db/migrate.ts', 'deploy', '--url', ownDatabaseUrl], { cwd: workspaceRoot, stdio: 'ignore' });
    const ledgerEnv = { LEASE_COMMANDS_TOPIC: topics.commands, LEASE_EVENTS_TOPIC: topics.events, LEASE_REPLIES_TOPIC: topics.replies, LEASE_GROUP_ID: `suprel-${id}`, DATABASE_URL: ownDatabaseUrl };
    const lease: BuiltService = await startBuiltService('lease', ledgerEnv, `lease-${id}`);
    children.push(lease.child);

    const support = writeKeyPairFiles({ dir: join(dir, 'support'), name: 'support-sign', kind: 'sign' });
    const server = { box: writeKeyPairFiles({ dir: join(dir, 'server'), name: 'server-box', kind: 'box' }), sign: writeKeyPairFiles({ dir: join(dir, 'server'), name: 'server-sign', kind: 'sign' }) };
    const gateways = [1, 2].map((n) => writeKeyPairFiles({ dir: join(dir, `gw${n}`), name: 'gateway', kind: 'box' }));
    const cliEnv = { ...ledgerEnv, KAFKA_BROKERS: brokers.join(','), DATABASE_URL: ownDatabaseUrl, SUPPORT_SIGN_KEY_FILE: support.secretKeyPath };
    const ledger = async (...args: string[]): Promise<{ code: number | null; out: string }> => {
      const run = runBuilt('ledger-cli', args, cliEnv);
      children.push(run.child);
      return run.done;
    };
    const agreementId = `agreement-${id}`;
    expect(await ledger('agreement', 'open', '--id', agreementId, '--name', 'e2e', '--licenses', '2', '--min', '1s', '--default', '10s', '--max', '10s')).toMatchObject({ code: 0 });
    for (const gateway of gateways) expect(await ledger('key', 'bind', '--agreement', agreementId, '--key', gateway.publicKeyPath)).toMatchObject({ code: 0 });

    const nobodyListens = `http://127.0.0.1:${await freePort()}`;
    const configFor = (n: number, login: string, servers: readonly string[]): string => {
      const path = join(dir, `gw${n}`, 'gateway.toml');
      writeFileSync(
        path,
        `[license]
package_name = "fix-gateway"
servers = [${servers.map((s) => `"${s}"`).join(', ')}]
server_box_public_key = "${toBase64(server.box.publicKey)}"
server_sign_public_key = "${toBase64(server.sign.publicKey)}"
support_sign_public_key = "${toBase64(support.publicKey)}"
state_dir = "state"
token_lifetime_seconds = 60
renew_interval_seconds = 1
retry_interval_seconds = 1
startup_grace_seconds = 1
request_timeout_seconds = 2

[accounts.main]
login = "${login}"
`,
      );
      return path;
    };
    const client = (n: number, login: string, servers: readonly string[], ...extra: string[]): Run => {
      const run = runBuilt('gateway-client', ['run', '--config', configFor(n, login, servers), '--key', join(dir, `gw${n}`, 'gateway.key'), ...extra]);
      children.push(run.child);
      return run;
    };
    const stillRunning = (run: Run, fail: (reason: string) => never): void => {
      if (run.child.exitCode !== null || run.child.signalCode !== null) fail(`the client exited: ${run.output.join('')}`);
    };
    const stop = async (run: Run): Promise<{ code: number | null; out: string }> => {
      run.child.kill('SIGTERM');
      return run.done;
    };

    // 1. No ingress is up. Support issues a token; the gateway runs on it past its start-up grace.
    const tokenFile = join(dir, 'gw1.token');
    const issued = await ledger('token', 'issue', '--agreement', agreementId, '--key', gateways[0]?.publicKeyPath ?? '', '--package', 'fix-gateway', '--logins', 'A1', '--until', '1h', '--reason', 'ingress unreachable from site B', '--by', 'alice', '--out', tokenFile);
    expect(issued.out).toMatch(new RegExp(`issue support lock "${agreementId}": granted lock \\S+ until \\S+ \\(request support-`));
    expect(issued.code).toBe(0);
    const offline = client(1, 'A1', [nobodyListens], '--token-file', tokenFile);
    const startedAt = Date.now();
    const renewalFailures = (): number => (offline.output.join('').match(/license renewal failed: no license server answered: .*; running on the current token until /g) ?? []).length;
    await eventually('the client to run on the support token past its start-up grace, every renewal failing', 30_000, async (fail) => {
      stillRunning(offline, fail);
      return (renewalFailures() >= 2 && Date.now() - startedAt > 1_500) || undefined;
    });
    expect(offline.output.join('')).toMatch(/imported license token support-\S+ from .*gw1\.token, valid until/);
    const offlineEnd = await stop(offline);
    expect(offlineEnd).toMatchObject({ code: 0 });
    expect(offlineEnd.out).toMatch(/^stopped$/m);

    // `ledger list` shows the support lock (the lease service projects it).
    const hash1 = toHex(configHash('fix-gateway', ['A1']));
    await eventually('ledger list to show the support lock', 90_000, async () => {
      const listed = await ledger('list');
      return listed.out.includes(`lock ${hash1} SUPPORT until`) ? listed : undefined;
    });

    // 2. An ingress is up; gateway 2 holds the second license and renews every second.
    const ingress = await startBuiltService(
      'ingress',
      { ...ledgerEnv, SERVER_BOX_KEY_FILE: server.box.secretKeyPath, SERVER_SIGN_KEY_FILE: server.sign.secretKeyPath, TELEMETRY_TOPIC: `suprel.${id}.telemetry`, LEDGER_GROUP_PREFIX: `suprel-ingress-${id}` },
      `ingress-${id}`,
      async (port, output) => output.includes('keys_loaded') && (await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false)),
    );
    children.push(ingress.child);
    const ingressUrl = `http://127.0.0.1:${ingress.port}`;
    const holder = client(2, 'B1', [ingressUrl]);
    const tokensFrom = (run: Run): number => (run.output.join('').match(/license token \S+ from http/g) ?? []).length;
    await eventually('gateway 2 to hold a license and renew it', 30_000, async (fail) => {
      stillRunning(holder, fail);
      return tokensFrom(holder) >= 2 || undefined;
    });

    // Ops release its lock by force: its next renewal is refused, and the client prints why.
    const hash2 = toHex(configHash('fix-gateway', ['B1']));
    const released = await ledger('lock', 'release', '--agreement', agreementId, '--config-hash', hash2, '--reason', 'moved to gateway farm B', '--by', 'bob');
    expect(released).toMatchObject({ code: 0 });
    expect(released.out).toMatch(/force release lock ".*": released lock \S+, license freed/);
    const refusal = `refused the license: lock_released_by_operator: lock ${hash2} of agreement "${agreementId}" was released by operator bob: moved to gateway farm B`;
    // (Whether the client then runs on until its token expires or stops at once is its own policy.)
    await eventually('the holder to print the refusal of its next renewal', 30_000, async (fail) => {
      if (holder.output.join('').includes(refusal)) return true;
      if (holder.child.exitCode !== null || holder.child.signalCode !== null) fail(`the client exited without printing the refusal: ${holder.output.join('')}`);
      return undefined;
    });
    expect(holder.output.join('')).toContain(`${ingressUrl} ${refusal}`);
    if (holder.child.exitCode === null && holder.child.signalCode === null) await stop(holder);

    // A restarted gateway (a new session) may lock again.
    const restarted = await runBuilt('gateway-client', ['run', '--config', configFor(2, 'B1', [ingressUrl]), '--key', join(dir, 'gw2', 'gateway.key'), '--fetch-token-only']).done;
    expect(restarted).toMatchObject({ code: 0 });
    expect(restarted.out).toMatch(/fetched license token \S+ from http/);
  }, 240_000);
});
