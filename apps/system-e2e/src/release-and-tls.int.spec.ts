import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { LedgerClient } from '@license-ledger/lease-ledger';
import { readUsageHistory } from '@license-ledger/metrics-usage-history';
import { ensureTopics, KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { eventually, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { configHash, readBoxSecretKeyFile, systemRandom, toBase64, toHex, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { LICENSE_RELEASE_PATH, sealReleaseRequest } from '@license-ledger/protocol-exchange';
import { Pool } from 'pg';
import { startBuiltService, workspaceRoot, type BuiltService } from './support/built-service';

/**
 * Release and TLS with the built services and the built reference client (`npm run build` first):
 * a client stopped by SIGTERM gives its lock back, so another configuration locks the license at
 * once (or once the agreement's linger is over); the client speaks HTTPS to an ingress with a
 * self-signed certificate, and refuses it under a wrong pin.
 */
const { brokers } = integrationEnv();
const LOCK_MS = 60_000;
const LINGER_MS = 8_000;

interface Run {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly done: Promise<{ code: number | null; out: string }>;
}

function gatewayClient(args: readonly string[]): Run {
  const main = join(workspaceRoot, 'dist', 'apps', 'gateway-client', 'apps', 'gateway-client', 'src', 'main.js');
  const child = spawn(process.execPath, [main, ...args], { cwd: workspaceRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.once('exit', (code) => resolve({ code, out: output.join('') })));
  return { child, output, done };
}

/** A self-signed certificate for 127.0.0.1 made by openssl (Debian `openssl`), and its SHA-256 fingerprint as openssl prints it. */
function selfSignedCertificate(dir: string): { env: { TLS_CERT_FILE: string; TLS_KEY_FILE: string }; fingerprint: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=license-ledger-e2e', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  } catch (error) {
    throw new Error(`openssl could not make a test certificate (apt-get install -y openssl): ${String(error)}`);
  }
  const printed = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  const fingerprint = /=([0-9A-F:]{95})/.exec(printed)?.[1];
  if (!fingerprint) throw new Error(`unexpected openssl fingerprint output: ${printed}`);
  return { env: { TLS_CERT_FILE: cert, TLS_KEY_FILE: key }, fingerprint };
}

/** Readiness over HTTPS without validating the certificate (as gateways do). */
function httpsReady(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(`${url}/health/ready`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

describe('release and TLS with the reference client, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'release-tls-'));
  const id = randomUUID().slice(0, 8);
  const topics = { commands: `reltls.${id}.commands`, events: `reltls.${id}.events`, replies: `reltls.${id}.replies` };
  const children: ChildProcess[] = [];
  const server = { box: writeKeyPairFiles({ dir: join(dir, 'server'), name: 'server-box', kind: 'box' }), sign: writeKeyPairFiles({ dir: join(dir, 'server'), name: 'server-sign', kind: 'sign' }) };
  const tls = selfSignedCertificate(dir);
  let bus: KafkaJsMessageBus | undefined;
  let ops: LedgerClient | undefined;
  let http: BuiltService;
  let httpsUrl = '';

  const send = (command: LeaseCommand): Promise<LeaseOutcome> => {
    if (!ops) throw new Error('no ops client');
    return ops.sendUntilAnswered(command, 2_000, 30);
  };
  /** An agreement of one license and 60-second locks, with its own gateway keys. */
  const agreement = async (name: string, gatewayNames: readonly string[], lingerMs?: number): Promise<void> => {
    const agreementId = `${name}-${id}`;
    const opened = await send({
      type: 'OpenAgreement',
      data: { agreementId, name, licenses: 1, bounds: { minMs: 1_000, defaultMs: LOCK_MS, maxMs: LOCK_MS }, ...(lingerMs === undefined ? {} : { lingerMs }) },
      metadata: { requestId: randomUUID() },
    });
    expect(opened).toEqual({ kind: 'accepted' });
    for (const gatewayName of gatewayNames) {
      const key = writeKeyPairFiles({ dir: join(dir, gatewayName), name: 'gateway', kind: 'box' });
      expect(await send({ type: 'BindKey', data: { agreementId, key: toBase64(key.publicKey) }, metadata: { requestId: randomUUID() } })).toEqual({ kind: 'accepted' });
    }
  };
  const configFor = (gatewayName: string, login: string, serverUrl: string): string => {
    const path = join(dir, gatewayName, 'gateway.toml');
    writeFileSync(
      path,
      `[license]\npackage_name = "fix-gateway"\nservers = ["${serverUrl}"]\nserver_box_public_key = "${toBase64(server.box.publicKey)}"\nserver_sign_public_key = "${toBase64(server.sign.publicKey)}"\nstate_dir = "state"\ntoken_lifetime_seconds = 60\nrequest_timeout_seconds = 5\n\n[accounts.main]\nlogin = "${login}"\n`,
    );
    return path;
  };
  const client = (gatewayName: string, login: string, serverUrl: string, ...extra: string[]): Run => {
    const run = gatewayClient(['run', '--config', configFor(gatewayName, login, serverUrl), '--key', join(dir, gatewayName, 'gateway.key'), ...extra]);
    children.push(run.child);
    return run;
  };
  const fetchOnce = (gatewayName: string, login: string, serverUrl: string, ...extra: string[]): Promise<{ code: number | null; out: string }> =>
    client(gatewayName, login, serverUrl, '--fetch-token-only', ...extra).done;
  /** Starts a client and waits until it holds a token. */
  const holding = async (gatewayName: string, login: string, serverUrl: string, ...extra: string[]): Promise<Run> => {
    const run = client(gatewayName, login, serverUrl, ...extra);
    await eventually(`${gatewayName} to hold a license`, 30_000, async (fail) => {
      if (run.child.exitCode !== null) fail(`the client exited: ${run.output.join('')}`);
      return run.output.join('').includes(`from ${serverUrl} (agreement`) || undefined;
    });
    return run;
  };
  const stop = (run: Run): Promise<{ code: number | null; out: string }> => {
    run.child.kill('SIGTERM');
    return run.done;
  };
  const hashOf = (login: string): string => toHex(configHash('fix-gateway', [login]));

  beforeAll(async () => {
    await ensureTopics(brokers, [...Object.values(topics), `reltls.${id}.telemetry`].map((name) => ({ name, partitions: 3, config: {} })));
    const leaseEnv = { LEASE_COMMANDS_TOPIC: topics.commands, LEASE_EVENTS_TOPIC: topics.events, LEASE_REPLIES_TOPIC: topics.replies, LEASE_GROUP_ID: `reltls-${id}` };
    const lease = await startBuiltService('lease', leaseEnv, `lease-${id}`);
    children.push(lease.child);
    bus = new KafkaJsMessageBus({ clientId: 'reltls-ops', brokers, logger: silentLogger });
    ops = new LedgerClient({ bus, topics, instanceId: `ops-${id}`, groupPrefix: `reltls-ops-${id}` });
    await ops.start();
    await agreement('release', ['a', 'b']);
    await agreement('linger', ['c', 'd'], LINGER_MS);
    await agreement('tls', ['e']);

    const ingressEnv = { ...leaseEnv, SERVER_BOX_KEY_FILE: server.box.secretKeyPath, SERVER_SIGN_KEY_FILE: server.sign.secretKeyPath, TELEMETRY_TOPIC: `reltls.${id}.telemetry` };
    const keysLoaded = (output: string): boolean => output.includes('keys_loaded');
    const [plain, secure] = await Promise.all([
      startBuiltService('ingress', { ...ingressEnv, LEDGER_GROUP_PREFIX: `reltls-http-${id}` }, `ingress-http-${id}`, async (port, output) =>
        keysLoaded(output) && (await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false)),
      ),
      // On Express, while the plain one runs on Fastify (the default): the release route works on both.
      startBuiltService('ingress', { ...ingressEnv, ...tls.env, HTTP_ADAPTER: 'express', LEDGER_GROUP_PREFIX: `reltls-https-${id}` }, `ingress-https-${id}`, async (port, output) =>
        keysLoaded(output) && (await httpsReady(`https://127.0.0.1:${port}`)),
      ),
    ]);
    http = plain;
    children.push(plain.child, secure.child);
    httpsUrl = `https://127.0.0.1:${secure.port}`;
  }, 180_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await ops?.stop();
    await bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('frees the license for another configuration as soon as its holder stops, and a release of what one does not hold changes nothing', async () => {
    const url = `http://127.0.0.1:${http.port}`;
    const holder = await holding('a', 'A1', url);
    const refused = await fetchOnce('b', 'B1', url);
    expect(refused.code).toBe(2);
    expect(refused.out).toContain('refused the license: no_available_licenses');

    const stopped = await stop(holder);
    expect(stopped.code).toBe(0);
    const lines = stopped.out.trimEnd().split('\n');
    expect(lines.slice(-2)).toEqual([expect.stringMatching(new RegExp(`^released lock ${hashOf('A1')} \\(license token \\S+\\) at ${url.replace(/[.:/]/g, '\\$&')}: the license is free again$`)), 'stopped']);
    // At once: the 60-second lock is far from its expiry, and one attempt is enough.
    const granted = await fetchOnce('b', 'B1', url);
    expect(granted).toMatchObject({ code: 0, out: expect.stringContaining('fetched license token') });

    // A release by a process that holds nothing (its names are made up): 400 lock_not_held, and B keeps the license.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const body = sealReleaseRequest({
      request: { tokenId: 'made-up', requestTimeUtc: nowNs, nonce: systemRandom(16), configHash: configHash('fix-gateway', ['B1']), hostname: 'elsewhere', processId: 1n, sessionId: randomUUID() },
      gatewayKey: readBoxSecretKeyFile(join(dir, 'b', 'gateway.key')),
      serverBoxPublicKey: server.box.publicKey,
      random: systemRandom,
    });
    const answer = await fetch(`${url}${LICENSE_RELEASE_PATH}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
    expect([answer.status, await answer.json()]).toEqual([400, { error: 400, reason: 'lock_not_held', message: expect.stringMatching(/does not hold lock/) }]);
    const still = await fetchOnce('a', 'A1', url);
    expect(still.code).toBe(2);
    expect(still.out).toContain('refused the license: no_available_licenses');
  }, 120_000);

  // After the first case: the metrics service folds this run's ledger into the usage history, which
  // shows what happened to the "release" agreement: one lock at a time, and the two refusals.
  it('shows the peak and the denials of the release case in the usage history the metrics service builds from the ledger', async () => {
    const metrics = await startBuiltService(
      'metrics',
      { LEASE_EVENTS_TOPIC: topics.events, USAGE_HISTORY_CONSUMER_GROUP: `reltls-usage-${id}`, TELEMETRY_TOPIC: `reltls.${id}.telemetry`, TELEMETRY_CONSUMER_GROUP: `reltls-metrics-${id}` },
      `metrics-${id}`,
    );
    children.push(metrics.child);
    const pool = new Pool({ connectionString: integrationEnv().databaseUrl, max: 2 });
    try {
      const query = async <Row>(sql: string, params: readonly unknown[]): Promise<Row[]> => (await pool.query(sql, [...params])).rows as Row[];
      const usage = await eventually('the usage history of the release case', 60_000, async () => {
        const now = Date.now();
        const answer = await readUsageHistory(query, { agreement: `release-${id}`, fromMs: now - 2 * 3_600_000, toMs: now + 3_600_000, by: 'hour', nowMs: now });
        const buckets = answer.agreements[0]?.buckets ?? [];
        const seen = {
          peakLocks: Math.max(0, ...buckets.map((b) => b.peakLocks)),
          licenses: Math.max(0, ...buckets.map((b) => b.licenses)),
          denials: buckets.reduce((sum, b) => sum + b.denials, 0),
        };
        return seen.denials >= 2 ? seen : undefined;
      });
      // A held the only license, B was refused; A released, B locked, A was refused: never two at once.
      expect(usage).toEqual({ peakLocks: 1, licenses: 1, denials: 2 });
    } finally {
      await pool.end();
    }
  }, 120_000);

  it("keeps a released lock counted for the agreement's linger, then frees it", async () => {
    const url = `http://127.0.0.1:${http.port}`;
    const holder = await holding('c', 'C1', url);
    const stopped = await stop(holder);
    expect(stopped.code).toBe(0);
    const lingering = new RegExp(`^released lock ${hashOf('C1')} \\(license token \\S+\\) at \\S+: it still counts until (\\S+) \\(the agreement's linger\\)$`, 'm').exec(stopped.out);
    expect(lingering).not.toBeNull();
    const keptUntil = Date.parse(lingering?.[1] ?? '');
    expect(keptUntil - Date.now()).toBeGreaterThan(0);

    const during = await fetchOnce('d', 'D1', url);
    expect(Date.now()).toBeLessThan(keptUntil); // the attempt was answered while the lock lingered
    expect(during.code).toBe(2);
    expect(during.out).toContain('refused the license: no_available_licenses');

    const after = await eventually(
      'a license for D once the linger is over',
      LINGER_MS + 20_000,
      async (fail) => {
        const run = await fetchOnce('d', 'D1', url);
        if (run.code === 0) return run;
        if (!run.out.includes('refused the license: no_available_licenses')) fail(`unexpected answer: ${run.out}`);
        return undefined;
      },
      500,
    );
    expect(after.out).toContain('fetched license token');
    expect(Date.now()).toBeGreaterThanOrEqual(keptUntil);
  }, 120_000);

  it('speaks HTTPS to an ingress with a self-signed certificate, pinned or not, and refuses it under a wrong pin', async () => {
    const unpinned = await fetchOnce('e', 'E1', httpsUrl);
    expect(unpinned).toMatchObject({ code: 0, out: expect.stringContaining(`fetched license token`) });

    const wrong = 'AB:'.repeat(31) + 'AB';
    const refused = await fetchOnce('e', 'E1', httpsUrl, '--pin-sha256', wrong);
    expect(refused.code).toBe(2);
    expect(refused.out).toContain(
      `no license server answered: ${httpsUrl}: certificate pin mismatch: ${new URL(httpsUrl).host} presented a certificate with SHA-256 fingerprint ${tls.fingerprint}, not the pinned ${wrong}; nothing was sent`,
    );

    // Pinned right, a new process (no cached token: it asks at once) locks over HTTPS and gives its share back there on SIGTERM.
    rmSync(join(dir, 'e', 'state'), { recursive: true, force: true });
    const holder = await holding('e', 'E1', httpsUrl, '--pin-sha256', tls.fingerprint);
    const stopped = await stop(holder);
    expect(stopped.code).toBe(0);
    expect(stopped.out).toMatch(new RegExp(`^released lock ${hashOf('E1')} \\(license token \\S+\\) at ${httpsUrl.replace(/[.:/]/g, '\\$&')}: `, 'm'));
  }, 120_000);
});
