/**
 * Ingress benchmark: many simulated gateways renewing their licenses over HTTP against an ingress
 * and a lease service (started here from dist/, on topics of their own, on the broker and database
 * of KAFKA_BROKERS / DATABASE_URL), beside the in-process ceiling (open + decode + sign + seal, no
 * I/O) measured in the same run.
 *
 *   npx tsx tools/build.ts ingress && npx tsx tools/build.ts lease
 *   KAFKA_BROKERS=127.0.0.1:9092 DATABASE_URL=postgresql://... npx tsx tools/ingress/bench.ts \
 *     [--gateways 2000] [--concurrency 64] [--seconds 10] [--variants node,fastify,express] [--rounds 1] \
 *     [--baseline-dist <other checkout>/dist] [--lease-dist <dist>] [--half-rate <requests/s>]
 *
 * Variants, measured one after the other and printed side by side: `node` (the default), `fastify`
 * and `express` are this repository's ingress with HTTP_ADAPTER set; `before` is the ingress built in
 * another checkout (--baseline-dist, e.g. a clone of the commit before a change; listed first by
 * default when given). With several rounds the variants take turns, each round starting with the
 * next one, and the summary gives each round and the median. Each variant runs against the lease
 * service of its own checkout (started once, on topics of its own: an ingress reads the records its
 * own release writes), unless --lease-dist names one build for all.
 *
 * Phase 1 (closed loop, `concurrency` requests in flight) gives the highest renewal rate; phase 2
 * sends at a fixed rate (open loop; half of the first variant's phase 1 unless --half-rate, the same
 * for every variant) and reports the latency a gateway sees then. In both, the ingress's CPU per
 * request (from /proc, less the CPU it uses idle) says what each variant costs even when the shared
 * machine's other load moves the rates. Request bodies are sealed and serialised before each phase,
 * and sent by a lean HTTP/1.1 client (raw-http.ts), so the load generator takes little CPU from the
 * system measured on the same machine.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { BoxSecretKey, readBoxSecretKeyFile, readSigningKeyFile, systemRandom, toBase64, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto, sealLicenseRequest } from '@license-ledger/protocol-exchange';
import { exampleLicenseRequest } from '@license-ledger/protocol-wire';
import { closedLoop, describeResult, grantRate, openLoop, percentile, sendAll, type LoadResult } from './bench-load';
import { createTopics, processCpuSeconds, startService, stopService, type RunningService } from './bench-services';
import { inProcessCeiling, ledgerAnswerBuckets, ledgerOnly } from './bench-references';
import { RawHttpClient, serializePost } from './raw-http';

const workspaceDist = join(__dirname, '..', '..', 'dist');
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const usage = 'usage: bench.ts [--gateways N] [--concurrency N] [--seconds N] [--variants node,fastify,express,before] [--rounds N] [--baseline-dist DIR] [--lease-dist DIR] [--half-rate N]';

const { values: args } = parseArgs({
  options: {
    gateways: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '10' },
    variants: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    'baseline-dist': { type: 'string' },
    'lease-dist': { type: 'string' },
    'half-rate': { type: 'string' },
  },
});
const positive = (name: string, text: string | undefined): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} expects a positive integer, got "${text}"\n${usage}`);
  return value;
};
const GATEWAYS = positive('gateways', args.gateways);
const CONCURRENCY = positive('concurrency', args.concurrency);
const SECONDS = positive('seconds', args.seconds);
const ROUNDS = positive('rounds', args.rounds);
const FIXED_HALF_RATE = args['half-rate'] === undefined ? undefined : positive('half-rate', args['half-rate']);
const baselineDist = args['baseline-dist'] === undefined ? undefined : resolve(args['baseline-dist']);
const leaseDist = args['lease-dist'] === undefined ? undefined : resolve(args['lease-dist']);

interface Variant {
  readonly name: string;
  readonly dist: string;
  readonly env: Record<string, string>;
}

function variantsOf(list: string): Variant[] {
  return list.split(',').map((name): Variant => {
    if (name === 'node' || name === 'fastify' || name === 'express') return { name, dist: workspaceDist, env: { HTTP_ADAPTER: name } };
    if (name === 'before') {
      if (!baselineDist) throw new Error(`the variant "before" needs --baseline-dist\n${usage}`);
      return { name, dist: baselineDist, env: {} };
    }
    throw new Error(`unknown variant "${name}"; expected node, fastify, express or before\n${usage}`);
  });
}
const VARIANTS = variantsOf(args.variants ?? (baselineDist ? 'before,node,fastify,express' : 'node,fastify,express'));

const brokersEnv = process.env['KAFKA_BROKERS'];
if (!brokersEnv || !process.env['DATABASE_URL']) throw new Error('set KAFKA_BROKERS and DATABASE_URL (see the header of this file)');
const brokers = brokersEnv.split(',');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

interface Run {
  readonly variant: string;
  /** The in-process ceiling measured just before this run's phase 1: what the machine gives one core now. */
  readonly ceiling: number;
  readonly max: LoadResult;
  /** Ingress CPU (user + system) per answered request at max, less what it uses idle, µs. */
  readonly maxCpuUs: number;
  /** The same at the fixed rate (the same load for every variant, so Kafka batches alike). */
  readonly fixedRateCpuUs: number;
  readonly half: LoadResult;
  readonly halfRate: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

function printSummary(runs: readonly Run[]): void {
  const halfRate = runs[0]?.halfRate ?? 0;
  say(`\nsummary: ${ROUNDS} round(s) of ${SECONDS} s per variant; medians over rounds; ${GATEWAYS} gateways, ${CONCURRENCY} in flight at max; fixed rate ${halfRate}/s for every variant`);
  const rows = [['variant', 'renewals/s at max (each round)', 'median', 'x ceiling then', 'ingress CPU/req at max', `at ${halfRate}/s`, 'p50 / p99 at max', `p50 / p99 at ${halfRate}/s`, 'non-200']];
  for (const variant of VARIANTS) {
    const mine = runs.filter((run) => run.variant === variant.name);
    const rates = mine.map((run) => grantRate(run.max));
    const ms = (results: LoadResult[], p: number): string => median(results.map((r) => percentile(r.latencies, p))).toFixed(1);
    const failures = mine.reduce((sum, run) => sum + [...run.max.statuses, ...run.half.statuses].reduce((n, [status, count]) => n + (status === 200 ? 0 : count), 0), 0);
    rows.push([
      variant.name,
      rates.map((rate) => Math.round(rate)).join(', '),
      String(Math.round(median(rates))),
      median(mine.map((run) => grantRate(run.max) / run.ceiling)).toFixed(2),
      `${Math.round(median(mine.map((run) => run.maxCpuUs)))} µs`,
      `${Math.round(median(mine.map((run) => run.fixedRateCpuUs)))} µs`,
      `${ms(mine.map((run) => run.max), 50)} / ${ms(mine.map((run) => run.max), 99)} ms`,
      `${ms(mine.map((run) => run.half), 50)} / ${ms(mine.map((run) => run.half), 99)} ms`,
      String(failures),
    ]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  for (const row of rows) say(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

/**
 * A lease service with topics of its own, the bench agreement and every gateway's key bound: what
 * the variants of one lease build run against. A checkout's ingress reads its own lease service's
 * records (their formats change between releases), so `before` runs against the lease service of
 * --baseline-dist, the others against this repository's, unless --lease-dist names one for all.
 */
interface Ledger {
  readonly tag: string;
  readonly topics: { readonly commands: string; readonly events: string; readonly replies: string };
  readonly telemetryTopic: string;
  readonly leaseEnv: Record<string, string>;
  readonly ops: LedgerClient;
  service?: RunningService;
}

function ledgerOf(bus: KafkaJsMessageBus, tag: string): Ledger {
  const topics = { commands: `bench.${tag}.commands`, events: `bench.${tag}.events`, replies: `bench.${tag}.replies` };
  const leaseEnv = { LEASE_COMMANDS_TOPIC: topics.commands, LEASE_EVENTS_TOPIC: topics.events, LEASE_REPLIES_TOPIC: topics.replies, LEASE_GROUP_ID: `bench-${tag}`, INSTANCE_ID: `bench-lease-${tag}` };
  const ops = new LedgerClient({ bus, topics, instanceId: `bench-ops-${tag}`, groupPrefix: `bench-ops-${tag}` });
  return { tag, topics, telemetryTopic: `bench.${tag}.telemetry`, leaseEnv, ops };
}

const leaseDistOf = (variant: Variant): string => leaseDist ?? (variant.name === 'before' && baselineDist ? baselineDist : workspaceDist);

async function main(): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'ingress-bench-'));
  const bus = new KafkaJsMessageBus({ clientId: 'ingress-bench', brokers, logger: silent });
  const ledgers = new Map<string, Ledger>();
  try {
    const box = writeKeyPairFiles({ dir, name: 'server-box', kind: 'box' });
    const sign = writeKeyPairFiles({ dir, name: 'server-sign', kind: 'sign' });
    const agreementId = `bench-${id}`;
    const gateways = Array.from({ length: GATEWAYS }, () => BoxSecretKey.generate(systemRandom));
    for (const dist of new Set(VARIANTS.map(leaseDistOf))) {
      const ledger = ledgerOf(bus, `${id}.l${ledgers.size}`);
      ledgers.set(dist, ledger);
      await createTopics(brokers, [...Object.values(ledger.topics), ledger.telemetryTopic]);
      say(`starting a lease service (${dist}) on topics bench.${ledger.tag}.*; variants ${VARIANTS.filter((v) => leaseDistOf(v) === dist).map((v) => `${v.name} (${v.dist})`).join(', ')}`);
      ledger.service = await startService(dist, 'lease', ledger.leaseEnv);
      await ledger.ops.start();
      say(`opening an agreement with ${GATEWAYS} licenses and binding ${GATEWAYS} gateway keys`);
      await ledger.ops.send({ type: 'OpenAgreement', data: { agreementId, name: 'bench', licenses: GATEWAYS, bounds: { minMs: 60_000, defaultMs: 600_000, maxMs: 600_000 } }, metadata: { requestId: randomUUID() } }, 30_000);
      for (let i = 0; i < gateways.length; i += 500) {
        await Promise.all(gateways.slice(i, i + 500).map((g) => ledger.ops.send({ type: 'BindKey', data: { agreementId, key: toBase64(g.publicKey) }, metadata: { requestId: randomUUID() } }, 30_000)));
      }
    }
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
        return sealLicenseRequest({ request, gatewayKey: gateways[i] as BoxSecretKey, serverBoxPublicKey: box.publicKey, random: systemRandom });
      });

    const ceilingCrypto = new LicenseServerCrypto({ boxKey: readBoxSecretKeyFile(box.secretKeyPath), signingKey: readSigningKeyFile(sign.secretKeyPath) });
    const ceilingBodies = sealBodies(Math.min(GATEWAYS, 1_000));
    say(`in-process ceiling (open + decode + sign + seal, one core, no I/O): ${Math.round(inProcessCeiling(ceilingCrypto, ceilingBodies, 3))} /s`);
    // Per lease build: a faster ledger lets a variant reach a higher rate, where Kafka batches more per request.
    for (const [dist, ledger] of ledgers) say(`${await ledgerOnly({ ledger: ledger.ops, agreementId, gateways, configHashes, concurrency: CONCURRENCY, seconds: SECONDS / 2 })} [lease of ${dist}]`);

    const ingressEnv = {
      SERVER_BOX_KEY_FILE: box.secretKeyPath,
      SERVER_SIGN_KEY_FILE: sign.secretKeyPath,
      RATE_LIMIT_KEY_PER_SECOND: '1000',
      RATE_LIMIT_KEY_BURST: '1000',
      RATE_LIMIT_ADDRESS_PER_SECOND: '1000000',
      RATE_LIMIT_ADDRESS_BURST: '1000000',
    };
    const runs: Run[] = [];
    let halfRate = FIXED_HALF_RATE;
    for (let round = 0; round < ROUNDS; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length] as Variant);
      for (const variant of order) {
        const tag = `${variant.name}${ROUNDS > 1 ? ` (round ${round + 1})` : ''}`;
        const instance = `bench-ingress-${id}-${variant.name}-${round}`;
        const ledger = ledgers.get(leaseDistOf(variant)) as Ledger;
        const env = { ...ledger.leaseEnv, TELEMETRY_TOPIC: ledger.telemetryTopic, ...ingressEnv, ...variant.env, INSTANCE_ID: instance, LEDGER_GROUP_PREFIX: instance };
        const ingress = await startService(variant.dist, 'ingress', env, 'keys_loaded');
        const url = new URL(ingress.url);
        const http = new RawHttpClient(Number(url.port), url.hostname);
        // Serialised before a phase starts, so the client's work during it is little more than a write.
        const requests = (count: number): Buffer[] => sealBodies(count).map((body) => serializePost(url.host, '/v1/license', 'application/octet-stream', body));
        try {
          // Warm up: every gateway renews once (and the ingress caches its shared key).
          await sendAll(http, requests(GATEWAYS), CONCURRENCY);
          const load = requests(Math.max(20_000, 5_000 * SECONDS));
          // On a shared machine the CPU one core gives changes from minute to minute: measured again
          // here, while the ingress idles (its Kafka clients' own CPU, taken out of its CPU per request).
          const idleFrom = { cpu: processCpuSeconds(ingress.child.pid), at: performance.now() };
          const ceiling = inProcessCeiling(ceilingCrypto, ceilingBodies, 2);
          const idlePerSecond = (processCpuSeconds(ingress.child.pid) - idleFrom.cpu) / ((performance.now() - idleFrom.at) / 1000);
          /** The ingress's CPU per answered request during `phase`, less what it uses idle, in µs. */
          const measured = async (phase: () => Promise<LoadResult>): Promise<{ result: LoadResult; cpuUs: number }> => {
            const before = processCpuSeconds(ingress.child.pid);
            const result = await phase();
            const answered = [...result.statuses.values()].reduce((sum, count) => sum + count, 0);
            return { result, cpuUs: ((processCpuSeconds(ingress.child.pid) - before - idlePerSecond * result.seconds) * 1e6) / answered };
          };
          const { result: max, cpuUs: maxCpuUs } = await measured(() => closedLoop(http, load, CONCURRENCY, SECONDS));
          say(
            `${describeResult(`${tag} max`, max)}; ingress CPU ${Math.round(maxCpuUs)} µs per request (less ${Math.round(idlePerSecond * 1000)} ms/s it uses idle); ` +
              `${(grantRate(max) / ceiling).toFixed(2)} x the ceiling of ${Math.round(ceiling)}/s just before`,
          );
          halfRate ??= Math.max(1, Math.round(grantRate(max) / 2));
          const rate = halfRate;
          const bodies = requests(rate * SECONDS);
          const { result: half, cpuUs: fixedRateCpuUs } = await measured(() => openLoop(http, bodies, rate));
          say(`${describeResult(`${tag} at ${rate}/s`, half)}; ingress CPU ${Math.round(fixedRateCpuUs)} µs per request`);
          say(`${tag} ingress -> ledger answer time (cumulative buckets, both phases): ${await ledgerAnswerBuckets(ingress.url)}`);
          runs.push({ variant: variant.name, ceiling, max, maxCpuUs, half, fixedRateCpuUs, halfRate });
        } finally {
          http.close();
          await stopService(ingress);
        }
      }
    }
    printSummary(runs);
    say('targets: >= 0.5 of the in-process ceiling; 5,000 renewals/s; p99 <= 20 ms at half rate');
  } finally {
    for (const ledger of ledgers.values()) {
      if (ledger.service) await stopService(ledger.service);
      await ledger.ops.stop().catch(() => undefined);
    }
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
