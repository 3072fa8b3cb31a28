import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { LedgerClient } from '@license-ledger/lease-ledger';
import { CUMULATIVE_FIELDS, parseTelemetry, type TelemetryReport } from '@license-ledger/metrics-usage';
import { ensureTopics, KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { eventually, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { Client } from 'pg';
import { BoxSecretKey, readBoxSecretKeyFile, systemRandom, toBase64, toHex, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto, licenseErrorBody, sealLicenseRequest, type LicenseErrorReason } from '@license-ledger/protocol-exchange';
import { exampleLicenseRequest, type LicenseRequest } from '@license-ledger/protocol-wire';
import { startBuiltService, workspaceRoot } from './support/built-service';

/**
 * The reference gateway client against the real system: two lease services and two ingress
 * instances (each client is given both URLs, in turn), on topics of their own, with one agreement of
 * two licenses and 6-second locks.
 */
const { brokers, databaseUrl } = integrationEnv();
const LOCK_MS = 6_000;
const MAX_BODY_BYTES = 4_096;
const KEY_BURST = 10;

async function createTopics(names: readonly string[]): Promise<void> {
  await ensureTopics(brokers, names.map((name) => ({ name, partitions: 3, config: {} })));
}

/** Gateways do not verify the ingress's certificate; neither does this. */
function httpsCall(url: string, method: 'GET' | 'POST', body?: Uint8Array): Promise<{ status: number; text: string; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, rejectUnauthorized: false, headers: body ? { 'content-type': 'application/octet-stream' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: typeof retryAfter === 'string' ? retryAfter : null });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Service {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: string[];
}

async function startService(app: 'lease' | 'ingress' | 'metrics', env: Record<string, string>, instanceId: string, readyLine?: string): Promise<Service> {
  const tls = env['TLS_CERT_FILE'] !== undefined;
  const urlOf = (port: number): string => `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const started = await startBuiltService(app, env, instanceId, async (port, output) => {
    const ready = tls
      ? await httpsCall(`${urlOf(port)}/health/ready`, 'GET').then((r) => r.status === 200, () => false)
      : await fetch(`${urlOf(port)}/health/ready`).then((r) => r.ok, () => false);
    return ready && (readyLine === undefined || output.includes(readyLine));
  });
  return { child: started.child, url: urlOf(started.port), output: started.output };
}

interface ClientRun {
  readonly code: number | null;
  readonly out: string;
}

function gatewayClient(args: readonly string[]): { child: ChildProcess; done: Promise<ClientRun>; output: string[] } {
  const main = join(workspaceRoot, 'dist', 'apps', 'gateway-client', 'apps', 'gateway-client', 'src', 'main.js');
  const child = spawn(process.execPath, [main, ...args], { cwd: workspaceRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const done = new Promise<ClientRun>((resolve) => child.once('exit', (code) => resolve({ code, out: output.join('') })));
  return { child, done, output };
}

function selfSignedCertificate(dir: string): { TLS_CERT_FILE: string; TLS_KEY_FILE: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { TLS_CERT_FILE: cert, TLS_KEY_FILE: key };
}

describe('gateway license, end to end', () => {
  const services: Service[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gateway-license-'));
  let bus: KafkaJsMessageBus | undefined;
  let ledger: LedgerClient | undefined;
  let proxy: Server | undefined;
  afterAll(async () => {
    for (const service of services) if (service.child.exitCode === null) service.child.kill('SIGKILL');
    proxy?.closeAllConnections();
    proxy?.close();
    await ledger?.stop();
    await bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('grants, shares, denies and frees licenses as the ledger decides, and refuses bad input', async () => {
    const id = randomUUID().slice(0, 8);
    const topics = { commands: `gwlic.${id}.commands`, events: `gwlic.${id}.events`, replies: `gwlic.${id}.replies` };
    const telemetryTopic = `gwlic.${id}.telemetry`;
    const deadCommands = `gwlic.${id}.nobody-reads`;
    await createTopics([...Object.values(topics), telemetryTopic, deadCommands]);
    const leaseEnv = { LEASE_COMMANDS_TOPIC: topics.commands, LEASE_EVENTS_TOPIC: topics.events, LEASE_REPLIES_TOPIC: topics.replies, LEASE_GROUP_ID: `gwlic-${id}` };
    const [leaseA, leaseB] = await Promise.all([startService('lease', leaseEnv, `lease-a-${id}`), startService('lease', leaseEnv, `lease-b-${id}`)]);
    if (!leaseA || !leaseB) throw new Error('two lease services expected');
    services.push(leaseA, leaseB);

    // The agreement, its keys (gateways 1-4; gateway 5's key is bound to nothing) and the server keys.
    bus = new KafkaJsMessageBus({ clientId: 'gwlic-ops', brokers, logger: silentLogger });
    ledger = new LedgerClient({ bus, topics, instanceId: `ops-${id}`, groupPrefix: `gwlic-ops-${id}` });
    await ledger.start();
    const ops = ledger;
    const sendUntilAnswered = (command: LeaseCommand): Promise<LeaseOutcome> => ops.sendUntilAnswered(command, 2_000, 30);
    const agreementId = `agreement-${id}`;
    expect(
      await sendUntilAnswered({
        type: 'OpenAgreement',
        data: { agreementId, name: 'e2e', licenses: 2, bounds: { minMs: 1_000, defaultMs: LOCK_MS, maxMs: LOCK_MS } },
        metadata: { requestId: randomUUID() },
      }),
    ).toEqual({ kind: 'accepted' });
    const server = { box: writeKeyPairFiles({ dir: join(dir, 'server'), name: 'server-box', kind: 'box' }), sign: writeKeyPairFiles({ dir: join(dir, 'server'), name: 'server-sign', kind: 'sign' }) };
    const gateways = [1, 2, 3, 4, 5].map((n) => writeKeyPairFiles({ dir: join(dir, `gw${n}`), name: 'gateway', kind: 'box' }));
    for (const gateway of gateways.slice(0, 4)) {
      expect(await sendUntilAnswered({ type: 'BindKey', data: { agreementId, key: toBase64(gateway.publicKey) }, metadata: { requestId: randomUUID() } })).toEqual({ kind: 'accepted' });
    }

    const ingressEnv = {
      ...leaseEnv,
      SERVER_BOX_KEY_FILE: server.box.secretKeyPath,
      SERVER_SIGN_KEY_FILE: server.sign.secretKeyPath,
      TELEMETRY_TOPIC: telemetryTopic,
      LEDGER_GROUP_PREFIX: `gwlic-ingress-${id}`,
      LEDGER_TIMEOUT_MS: '3000',
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      RATE_LIMIT_KEY_PER_SECOND: '1',
      RATE_LIMIT_KEY_BURST: String(KEY_BURST),
    };
    const [ingressA, ingressB, ingressDead] = await Promise.all([
      startService('ingress', ingressEnv, `ingress-a-${id}`, 'keys_loaded'),
      startService('ingress', ingressEnv, `ingress-b-${id}`, 'keys_loaded'),
      // Serves HTTPS, and sends its commands where no lease service listens: the ledger never answers it.
      startService('ingress', { ...ingressEnv, ...selfSignedCertificate(dir), LEASE_COMMANDS_TOPIC: deadCommands, LEDGER_TIMEOUT_MS: '300', LEDGER_GROUP_PREFIX: `gwlic-dead-${id}` }, `ingress-dead-${id}`, 'keys_loaded'),
    ]);
    if (!ingressA || !ingressB || !ingressDead) throw new Error('three ingress instances expected');
    services.push(ingressA, ingressB, ingressDead);
    // The metrics sink reads this run's telemetry topic into the database.
    services.push(await startService('metrics', { TELEMETRY_TOPIC: telemetryTopic, TELEMETRY_CONSUMER_GROUP: `gwlic-metrics-${id}` }, `metrics-${id}`));

    const keys = await (await fetch(`${ingressA.url}/v1/license/keys`)).json();
    expect(keys).toEqual({ box: { key_id: server.box.keyId, public_key: toBase64(server.box.publicKey) }, sign: { key_id: server.sign.keyId, public_key: toBase64(server.sign.publicKey) } });
    const openapi = (await (await fetch(`${ingressB.url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/license', '/v1/license/keys']));

    const configFor = (n: number, logins: readonly string[], servers: readonly string[], extra = ''): string => {
      const path = join(dir, `gw${n}`, 'gateway.toml');
      const accounts = logins.map((login, i) => `[accounts.a${i}]\nlogin = "${login}"\n`).join('\n');
      writeFileSync(
        path,
        `[license]\npackage_name = "fix-gateway"\nservers = [${servers.map((s) => `"${s}"`).join(', ')}]\nserver_box_public_key = "${toBase64(server.box.publicKey)}"\nserver_sign_public_key = "${toBase64(server.sign.publicKey)}"\nstate_dir = "state"\ntoken_lifetime_seconds = 60\nrequest_timeout_seconds = 5\n${extra}\n${accounts}`,
      );
      return path;
    };
    const both = [ingressA.url, ingressB.url];
    const fetchToken = (n: number, logins: readonly string[], servers: readonly string[] = n % 2 === 0 ? both : [...both].reverse()): Promise<ClientRun> =>
      gatewayClient(['run', '--config', configFor(n, logins, servers), '--key', join(dir, `gw${n}`, 'gateway.key'), '--fetch-token-only']).done;

    // Two licenses, three configurations: 200, 200, then 400 no_available_licenses.
    const locksRequestedAt = Date.now();
    const [first, second] = await Promise.all([fetchToken(1, ['A1']), fetchToken(2, ['A2'])]);
    expect(first).toMatchObject({ code: 0 });
    expect(second).toMatchObject({ code: 0 });
    expect(first.out).toContain('fetched license token');
    const [third, fourth, unknown] = await Promise.all([fetchToken(3, ['A3']), fetchToken(4, ['A1']), fetchToken(5, ['A1'])]);
    expect(third.code).toBe(2);
    expect(third.out).toContain('refused the license: no_available_licenses');
    // A fourth gateway with the first configuration shares its lock.
    expect(fourth).toMatchObject({ code: 0 });
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain('refused the license: no_license_agreement');

    // After a lock expires, the third configuration gets a license: asked again until it does (each
    // refusal must still be no_available_licenses), and not before a lock taken above can expire.
    /** Runs `attempt` until a license is free for it; any other refusal fails at once. */
    const onceLicenseFree = (what: string, attempt: () => Promise<ClientRun>): Promise<ClientRun> =>
      eventually(
        what,
        LOCK_MS + 20_000,
        async (fail) => {
          const run = await attempt();
          if (!run.out.includes('refused the license: no_available_licenses')) return run;
          if (run.code !== 2) fail(`unexpected exit ${String(run.code)}: ${run.out}`);
          return undefined;
        },
        1_000,
      );
    const freed = await onceLicenseFree('a license for the third configuration once a lock expired', () => fetchToken(3, ['A3']));
    expect(freed).toMatchObject({ code: 0 });
    expect(Date.now()).toBeGreaterThanOrEqual(locksRequestedAt + LOCK_MS);

    // A tampered token is refused by the client.
    proxy = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        void fetch(`${ingressA.url}${req.url ?? ''}`, { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: Buffer.concat(chunks) }).then(async (answer) => {
          const body = Buffer.from(await answer.arrayBuffer());
          const last = body.length - 1;
          if (answer.status === 200) body[last] = (body[last] ?? 0) ^ 1;
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' }).end(body);
        });
      });
    });
    await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    // The first configuration's lock (shared by gateway 4 later) may still be live: wait for it.
    const tampered = await onceLicenseFree('a license for the tampered request', () => fetchToken(2, ['A2'], [proxyUrl]));
    expect(tampered.code).toBe(2);
    expect(tampered.out).toContain('rejected its token');

    // HTTP errors, byte for byte.
    const serverBox = server.box.publicKey;
    const gw5 = readBoxSecretKeyFile(join(dir, 'gw5', 'gateway.key'));
    const gw1 = readBoxSecretKeyFile(join(dir, 'gw1', 'gateway.key'));
    const post = async (url: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<{ status: number; text: string; retryAfter: string | null; type: string | null }> => {
      const response = await fetch(`${url}/v1/license`, { method: 'POST', headers: { 'content-type': contentType }, body });
      return { status: response.status, text: await response.text(), retryAfter: response.headers.get('retry-after'), type: response.headers.get('content-type') };
    };
    const bad = (reason: LicenseErrorReason, message: string): string => JSON.stringify(licenseErrorBody(reason, message));
    const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
    const request = (overrides: Partial<LicenseRequest> = {}): LicenseRequest =>
      exampleLicenseRequest({ requestTimeUtc: nowNs(), tokenExpiryTimeUtc: nowNs() + 60_000_000_000n, nonce: systemRandom(16), ...overrides });
    const sealed = (key: BoxSecretKey, req: LicenseRequest, to = serverBox): Uint8Array => sealLicenseRequest({ request: req, gatewayKey: key, serverBoxPublicKey: to, random: systemRandom });
    // What the protocol library says about a body, as the ingress must pass it on.
    const libraryMessage = (body: Uint8Array): string => {
      const crypto = new LicenseServerCrypto({ boxKey: BoxSecretKey.generate(systemRandom), signingKey: undefined as never });
      try {
        crypto.openRequest(body);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('expected the body to be refused');
    };

    expect(await post(ingressA.url, Buffer.from('{}'), 'application/json')).toEqual({
      status: 415,
      text: '{"error":415,"reason":"unsupported_media_type","message":"Content-Type must be application/octet-stream"}',
      retryAfter: null,
      type: 'application/json',
    });
    expect(await post(ingressA.url, Buffer.alloc(MAX_BODY_BYTES + 1))).toMatchObject({
      status: 413,
      text: `{"error":413,"reason":"payload_too_large","message":"the body exceeds ${MAX_BODY_BYTES} bytes"}`,
    });
    const notSealed = Buffer.from('hello, license');
    expect(await post(ingressA.url, notSealed)).toMatchObject({ status: 400, text: bad('invalid_request', libraryMessage(notSealed)), type: 'application/json' });
    // A 31-byte public key: rewrite the vector's length in an otherwise valid Sealed.
    const shortKey = Buffer.from(sealed(gw5, request()));
    const at = shortKey.indexOf(Buffer.from(gw5.publicKey));
    shortKey.writeUInt32LE(31, at - 4);
    expect(await post(ingressA.url, shortKey)).toMatchObject({ status: 400, text: bad('invalid_request', libraryMessage(shortKey)) });
    const otherServer = BoxSecretKey.generate(systemRandom);
    const wrongBox = sealed(gw5, request(), otherServer.publicKey);
    expect(await post(ingressA.url, wrongBox)).toMatchObject({
      status: 400,
      text: bad('invalid_request', `box does not open with server key ${server.box.keyId} and the given gateway public key (sealed to another key, or altered)`),
    });
    expect(await post(ingressA.url, sealed(gw5, request({ sessionId: '', hostname: '' })))).toMatchObject({ status: 400, text: bad('invalid_request', 'the request lacks required fields hostname, session_id') });
    expect(await post(ingressA.url, sealed(gw5, request({ requestTimeUtc: nowNs() - 600_000_000_000n })))).toMatchObject({
      status: 400,
      text: bad('invalid_request', "request_time_utc is 600 s behind the server's clock; at most 300 s is accepted (check the gateway's clock)"),
    });
    const once = request();
    const replayed = sealed(gw5, once);
    expect(await post(ingressB.url, replayed)).toMatchObject({ status: 400, text: bad('no_license_agreement', `gateway key ${gateways[4]?.keyId} is not bound to a license agreement`) });
    expect(await post(ingressB.url, replayed)).toMatchObject({
      status: 400,
      text: bad('invalid_request', `nonce ${toHex(once.nonce)} was already used by this gateway key; every request needs a fresh nonce`),
    });
    // The ledger does not answer the third instance (on HTTPS): 503 with Retry-After, never a 500.
    expect(ingressDead.url).toMatch(/^https:/);
    expect(JSON.parse((await httpsCall(`${ingressDead.url}/v1/license/keys`, 'GET')).text)).toEqual(keys);
    expect(await httpsCall(`${ingressDead.url}/v1/license`, 'POST', sealed(gw1, request({ configHash: new Uint8Array(32).fill(9) })))).toEqual({
      status: 503,
      retryAfter: '1',
      text: '{"error":503,"reason":"unavailable","message":"the lease ledger cannot answer now (no decision within 300 ms); retry later"}',
    });
    // One key floods: after its burst, 429 with Retry-After.
    const flood = await Promise.all(Array.from({ length: KEY_BURST + 5 }, () => post(ingressA.url, sealed(gw5, request()))));
    const limited = flood.filter((answer) => answer.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(limited[0]).toEqual({ status: 429, retryAfter: '1', type: 'application/json', text: `{"error":429,"reason":"rate_limited","message":"too many requests from gateway key ${gateways[4]?.keyId}"}` });
    // Every refusal is logged with its reason.
    for (let i = 0; i < 50 && !ingressA.output.join('').includes('"reason":"rate_limited"'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const logged = ingressA.output.join('');
    for (const reason of ['unsupported_media_type', 'payload_too_large', 'invalid_request', 'rate_limited']) expect(logged).toContain(`"reason":"${reason}"`);

    // Telemetry of accepted requests reached the telemetry topic.
    const telemetry: TelemetryReport[] = [];
    const telemetryBus = new KafkaJsMessageBus({ clientId: 'gwlic-telemetry', brokers, logger: silentLogger });
    try {
      for (let i = 0; i < 50 && !telemetry.some((t) => t.decision === 'granted'); i++) {
        telemetry.length = 0;
        const decode = (value: Buffer): TelemetryReport => {
          const parsed = parseTelemetry(value);
          if (!parsed.ok) throw new Error(`telemetry record does not parse: ${parsed.error}`);
          return parsed.report;
        };
        await telemetryBus.readRanges({ topic: telemetryTopic, ranges: await telemetryBus.partitionRanges(telemetryTopic), onMessages: (messages) => void telemetry.push(...messages.map((m) => decode(m.value))) });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await telemetryBus.close();
    }
    const grantedReport = telemetry.find((t) => t.decision === 'granted' && t.key_fingerprint === gateways[0]?.keyId);
    expect(grantedReport).toMatchObject({ version: 3, agreement_id: agreementId, package_name: 'fix-gateway', received_time_utc: expect.stringMatching(/^\d{19}$/) });
    expect(grantedReport?.cumulative[CUMULATIVE_FIELDS.indexOf('internal_latency_count_inf')]).toBe(0);
    // ...and the metrics service stored it: the reference client's telemetry, through the ingress, in rows.
    const database = new Client({ connectionString: databaseUrl });
    await database.connect();
    try {
      const stored = await eventually('telemetry stored by the metrics service', 30_000, async () => {
        const result = await database.query<{ reports: number; sessions: number }>(
          'SELECT (SELECT count(*)::int FROM metrics_report WHERE agreement_id = $1) AS reports, (SELECT count(*)::int FROM metrics_session WHERE agreement_id = $1) AS sessions',
          [agreementId],
        );
        const row = result.rows[0];
        return row && row.reports > 0 && row.sessions > 0 ? row : undefined;
      });
      expect(stored.reports).toBeGreaterThan(0);
    } finally {
      await database.end();
    }

    // The client keeps running on its token while no ingress answers, and exits when it expires.
    // (Gateway 2 shares the lock its tampered request above took: a license is free for it.)
    const runner = gatewayClient(['run', '--config', configFor(2, ['A2'], both, 'renew_interval_seconds = 1\nretry_interval_seconds = 1'), '--key', join(dir, 'gw2', 'gateway.key')]);
    const runnerExited = (fail: (reason: string) => never): void => {
      if (runner.child.exitCode !== null || runner.child.signalCode !== null) fail(`the client exited: ${runner.output.join('')}`);
    };
    await eventually('the running client to get a token', 10_000, async (fail) => {
      runnerExited(fail);
      return /license token \S+ from http/.test(runner.output.join('')) || undefined;
    });
    const renewalFailures = (): number => (runner.output.join('').match(/license renewal failed: .*; running on the current token until /g) ?? []).length;
    const failuresBefore = renewalFailures();
    const stoppedAt = Date.now();
    await Promise.all(
      [ingressA, ingressB].map(async (ingress) => {
        const gone = new Promise((resolve) => ingress.child.once('exit', resolve));
        ingress.child.kill('SIGTERM');
        await gone;
      }),
    );
    // No ingress answers now: the client must fail a renewal and keep running on its token.
    await eventually('a failed renewal while the client runs on its token', LOCK_MS, async (fail) => {
      runnerExited(fail);
      return renewalFailures() > failuresBefore || undefined;
    });
    expect(runner.child.exitCode).toBeNull();
    const ran = await Promise.race([runner.done, new Promise<ClientRun>((resolve) => setTimeout(() => resolve({ code: -1, out: runner.output.join('') }), LOCK_MS + 5_000))]);
    expect(ran.code).toBe(3);
    expect(ran.out).toContain('license renewal failed');
    expect(Date.now() - stoppedAt).toBeLessThan(LOCK_MS + 3_000);
  }, 180_000);
});
