/**
 * Ingress benchmark: many simulated gateways renewing their licenses over HTTP against an ingress
 * and a lease service (started here from dist/, on topics of their own, on the broker and database
 * of KAFKA_BROKERS / DATABASE_URL), beside the in-process ceiling (open + decode + sign + seal, no
 * I/O) measured in the same run.
 *
 *   npx tsx tools/build.ts ingress && npx tsx tools/build.ts lease
 *   KAFKA_BROKERS=127.0.0.1:9092 DATABASE_URL=postgresql://... npx tsx tools/ingress/bench.ts \
 *     [--gateways 2000] [--concurrency 64] [--seconds 10]
 *
 * Phase 1 (closed loop, `concurrency` requests in flight) gives the highest renewal rate; phase 2
 * sends at half that rate (open loop, fixed schedule) and reports the latency a gateway sees then.
 * Request bodies are sealed and serialised before each phase, and sent by a lean HTTP/1.1 client
 * (raw-http.ts), so the load generator takes little CPU from the system measured on the same
 * machine; its CPU use per phase is printed.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '@license-ledger/platform-testing';
import { RawHttpClient, serializePost } from './raw-http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { BoxSecretKey, systemRandom, toBase64, writeKeyPairFiles, readBoxSecretKeyFile, readSigningKeyFile } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto, sealLicenseRequest } from '@license-ledger/protocol-exchange';
import { exampleLicenseRequest, type AccessToken } from '@license-ledger/protocol-wire';

const workspaceRoot = join(__dirname, '..', '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const GATEWAYS = option('gateways', 2_000);
const CONCURRENCY = option('concurrency', 64);
const SECONDS = option('seconds', 10);
const brokersEnv = process.env['KAFKA_BROKERS'];
if (!brokersEnv || !process.env['DATABASE_URL']) throw new Error('set KAFKA_BROKERS and DATABASE_URL (see the header of this file)');
const brokers = brokersEnv.split(',');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const say = (line: string): void => void process.stdout.write(`${line}\n`);


async function startService(app: 'lease' | 'ingress', env: Record<string, string>, readyLine?: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to the ingress, BENCH_LEASE_NODE_ARGS to the lease service.
  const nodeArgs = (process.env[app === 'ingress' ? 'BENCH_NODE_ARGS' : 'BENCH_LEASE_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(workspaceRoot, 'dist', 'apps', app, 'apps', app, 'src', 'main.js')], {
    cwd: workspaceRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    if (output.length < 100_000) output += chunk.toString('utf8');
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; ; ) {
    if (child.exitCode !== null) throw new Error(`${app} exited:\n${output}`);
    const ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ready && (!readyLine || output.includes(readyLine))) return { child, url };
    if (Date.now() > deadline) throw new Error(`${app} not ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function createTopics(names: readonly string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'ingress-bench-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: 6 })) });
    for (let i = 0; i < 100; i++) {
      const metadata = await admin.fetchTopicMetadata({ topics: [...names] }).catch(() => undefined);
      if (metadata?.topics.every((t) => t.partitions.length === 6 && t.partitions.every((p) => p.leader >= 0))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

const cpuSeconds = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** open + decode + sign + seal per second on this thread, with every gateway's shared key cached. */
function inProcessCeiling(crypto: LicenseServerCrypto, bodies: readonly Uint8Array[], seconds: number): number {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 200; i++) {
      const opened = crypto.openRequest(bodies[done % bodies.length] ?? new Uint8Array());
      const now = BigInt(Date.now()) * 1_000_000n;
      const token: AccessToken = {
        tokenId: 'bench',
        agreementId: 'bench',
        gatewayPublicKey: opened.gatewayPublicKey,
        configHash: opened.request.configHash,
        packageName: opened.request.packageName,
        issuedTimeUtc: now,
        expiryTimeUtc: now + 600_000_000_000n,
        nonce: opened.request.nonce,
        renewTimeUtc: now + 300_000_000_000n,
      };
      crypto.sealToken(token);
      done += 1;
    }
  }
  return done / seconds;
}

interface Result {
  readonly statuses: Map<number, number>;
  readonly latencies: number[];
  readonly seconds: number;
  /** CPU this process (the load generator) used during the phase, in seconds. */
  readonly clientCpuSeconds: number;
}

let http: RawHttpClient | undefined;

/** One POST; a kept-alive socket the server closed meanwhile is retried once on a new one. */
async function post(request: Buffer): Promise<number> {
  if (!http) throw new Error('no HTTP client');
  const status = await http.post(request);
  return status === 0 ? http.post(request) : status;
}

async function main(): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'ingress-bench-'));
  const children: ChildProcess[] = [];
  const bus = new KafkaJsMessageBus({ clientId: 'ingress-bench', brokers, logger: silent });
  const topics = { commands: `bench.${id}.commands`, events: `bench.${id}.events`, replies: `bench.${id}.replies` };
  const ops = new LedgerClient({ bus, topics, instanceId: `bench-ops-${id}`, groupPrefix: `bench-ops-${id}` });
  try {
    const box = writeKeyPairFiles({ dir, name: 'server-box', kind: 'box' });
    const sign = writeKeyPairFiles({ dir, name: 'server-sign', kind: 'sign' });
    const leaseEnv = { LEASE_COMMANDS_TOPIC: topics.commands, LEASE_EVENTS_TOPIC: topics.events, LEASE_REPLIES_TOPIC: topics.replies, LEASE_GROUP_ID: `bench-${id}`, INSTANCE_ID: `bench-lease-${id}` };
    await createTopics([...Object.values(topics), `bench.${id}.telemetry`]);
    say(`starting a lease service on topics bench.${id}.*`);
    children.push((await startService('lease', leaseEnv)).child);
    await ops.start();

    say(`opening an agreement with ${GATEWAYS} licenses and binding ${GATEWAYS} gateway keys`);
    const agreementId = `bench-${id}`;
    const gateways = Array.from({ length: GATEWAYS }, () => BoxSecretKey.generate(systemRandom));
    await ops.send({ type: 'OpenAgreement', data: { agreementId, name: 'bench', licenses: GATEWAYS, bounds: { minMs: 60_000, defaultMs: 600_000, maxMs: 600_000 } }, metadata: { requestId: randomUUID() } }, 30_000);
    for (let i = 0; i < gateways.length; i += 500) {
      await Promise.all(gateways.slice(i, i + 500).map((g) => ops.send({ type: 'BindKey', data: { agreementId, key: toBase64(g.publicKey) }, metadata: { requestId: randomUUID() } }, 30_000)));
    }

    const ingress = await startService(
      'ingress',
      {
        ...leaseEnv,
        INSTANCE_ID: `bench-ingress-${id}`,
        SERVER_BOX_KEY_FILE: box.secretKeyPath,
        SERVER_SIGN_KEY_FILE: sign.secretKeyPath,
        LEDGER_GROUP_PREFIX: `bench-ingress-${id}`,
        TELEMETRY_TOPIC: `bench.${id}.telemetry`,
        RATE_LIMIT_KEY_PER_SECOND: '1000',
        RATE_LIMIT_KEY_BURST: '1000',
        RATE_LIMIT_ADDRESS_PER_SECOND: '1000000',
        RATE_LIMIT_ADDRESS_BURST: '1000000',
      },
      'keys_loaded',
    );
    children.push(ingress.child);
    const url = new URL(ingress.url);
    http = new RawHttpClient(Number(url.port), url.hostname);
    // Serialised before a phase starts, so the client's work during it is little more than a write.
    const requests = (bodies: readonly Uint8Array[]): Buffer[] => bodies.map((body) => serializePost(url.host, '/v1/license', 'application/octet-stream', body));
    const serverBox = box.publicKey;
    // Each gateway its own configuration (config hash), so every request is a grant or a renewal.
    const configHashes = gateways.map((_, i) => {
      const hash = new Uint8Array(32);
      new DataView(hash.buffer).setUint32(0, i + 1);
      return hash;
    });
    const sealBodies = (count: number): Uint8Array[] =>
      Array.from({ length: count }, (_, n) => {
        const i = n % GATEWAYS;
        const now = BigInt(Date.now()) * 1_000_000n;
        const request = exampleLicenseRequest({ requestTimeUtc: now, tokenExpiryTimeUtc: now + 600_000_000_000n, nonce: systemRandom(16), configHash: configHashes[i] ?? new Uint8Array(32), sessionId: `gw-${i}`, processId: BigInt(1000 + i) });
        return sealLicenseRequest({ request, gatewayKey: gateways[i] as BoxSecretKey, serverBoxPublicKey: serverBox, random: systemRandom });
      });

    // Warm up: every gateway takes its lock once (and the ingress caches its shared key).
    const warm = sealBodies(GATEWAYS);
    const warmRequests = requests(warm);
    for (let i = 0; i < warmRequests.length; i += CONCURRENCY) await Promise.all(warmRequests.slice(i, i + CONCURRENCY).map((r) => post(r)));

    const ceilingCrypto = new LicenseServerCrypto({ boxKey: readBoxSecretKeyFile(box.secretKeyPath), signingKey: readSigningKeyFile(sign.secretKeyPath) });
    const ceilingBodies = warm.slice(0, Math.min(GATEWAYS, 1_000));
    const ceiling = inProcessCeiling(ceilingCrypto, ceilingBodies, 3);
    say(`in-process ceiling (open + decode + sign + seal, one core, no I/O): ${Math.round(ceiling)} /s`);

    const closedLoop = async (bodies: Buffer[]): Promise<Result> => {
      const statuses = new Map<number, number>();
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      const cpu = process.cpuUsage();
      const until = started + SECONDS * 1000;
      const worker = async (): Promise<void> => {
        while (performance.now() < until && next < bodies.length) {
          const body = bodies[next++] as Buffer;
          const sent = performance.now();
          const status = await post(body);
          latencies.push(performance.now() - sent);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return { statuses, latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000, clientCpuSeconds: cpuSeconds(cpu) };
    };
    const openLoop = async (bodies: Buffer[], rate: number): Promise<Result> => {
      const statuses = new Map<number, number>();
      const latencies: number[] = [];
      const started = performance.now();
      const cpu = process.cpuUsage();
      const inFlight: Array<Promise<void>> = [];
      for (let n = 0; n < bodies.length; n++) {
        const due = started + (n * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        inFlight.push(
          post(bodies[n] as Buffer).then((status) => {
            // Latency from when the request was due: a late send counts against us.
            latencies.push(performance.now() - due);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }),
        );
      }
      await Promise.all(inFlight);
      return { statuses, latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000, clientCpuSeconds: cpuSeconds(cpu) };
    };
    const report = (what: string, result: Result): number => {
      const ok = result.statuses.get(200) ?? 0;
      const rate = ok / result.seconds;
      say(
        `${what}: ${Math.round(rate)} renewals/s (${ok} granted in ${result.seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries(result.statuses))}); ` +
          `latency p50 ${percentile(result.latencies, 50).toFixed(1)} ms, p99 ${percentile(result.latencies, 99).toFixed(1)} ms; ` +
          `load generator used ${Math.round((100 * result.clientCpuSeconds) / result.seconds)} % of a core`,
      );
      return rate;
    };

    // The ledger alone (no HTTP, no crypto): what the lease service answers through LedgerClient.
    {
      const latencies: number[] = [];
      let granted = 0;
      let n = 0;
      const started = performance.now();
      const until = started + (SECONDS / 2) * 1000;
      const worker = async (): Promise<void> => {
        while (performance.now() < until) {
          const i = n++ % GATEWAYS;
          const sent = performance.now();
          const outcome = await ops.send(
            {
              type: 'AcquireLock',
              data: { agreementId, configHash: Buffer.from(configHashes[i] ?? new Uint8Array(32)).toString('hex'), holder: { key: toBase64((gateways[i] as BoxSecretKey).publicKey), hostname: 'bench', processId: 1000 + i, sessionId: `gw-${i}` } },
              metadata: { requestId: randomUUID() },
            },
            30_000,
          );
          latencies.push(performance.now() - sent);
          if (outcome.kind === 'granted') granted += 1;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      latencies.sort((a, b) => a - b);
      const seconds = (performance.now() - started) / 1000;
      say(`ledger only (LedgerClient -> lease service, ${CONCURRENCY} in flight): ${Math.round(granted / seconds)} renewals/s; latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`);
    }

    say(`phase 1: ${GATEWAYS} gateways, ${CONCURRENCY} requests in flight, ${SECONDS} s`);
    const maxRate = report('max', await closedLoop(requests(sealBodies(Math.max(20_000, 8_000 * SECONDS)))));
    const halfRate = Math.max(1, Math.round(maxRate / 2));
    say(`phase 2: a fixed ${halfRate} requests/s (half of phase 1) for ${SECONDS} s`);
    report('half rate', await openLoop(requests(sealBodies(halfRate * SECONDS)), halfRate));
    const scraped = await fetch(`${ingress.url}/metrics`).then((r) => r.text(), () => '');
    const ledgerLines = scraped.split('\n').filter((line) => line.startsWith('license_ledger_answer_seconds_bucket') || line.startsWith('license_ledger_answer_seconds_count'));
    say(`ingress -> ledger answer time (cumulative buckets, both phases): ${ledgerLines.map((line) => line.replace(/^.*le="([^"]+)".* (\d+)$/, '<=$1s:$2').replace(/^license_ledger_answer_seconds_count.* (\d+)$/, 'count:$1')).join(' ')}`);
    say(`ratio to the in-process ceiling: ${(maxRate / ceiling).toFixed(2)} (target >= 0.5); target 5,000 renewals/s, p99 <= 20 ms at half rate`);
  } finally {
    http?.close();
    for (const child of children) child.kill('SIGTERM');
    await ops.stop().catch(() => undefined);
    await bus.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
