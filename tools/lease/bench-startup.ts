/**
 * Start-up time against history (issue 15): from process start to ready-to-decide of a lease
 * instance (the built lease service: every ledger partition claimed) and to a loaded key directory
 * of an ingress (the built ingress: /health/ready), with (a) 100,000 and (b) 10,000,000 events of
 * history over the same 100,000 live locks. Target: (b)/(a) at most 1.5.
 *
 * Each history is written fast (startup-history.ts), then one lease instance in this process folds
 * it whole, claims every partition and so writes each partition's snapshot and its key bindings
 * (what a ledger in service has); that first fold is printed as the time without snapshots. Then
 * the services are started from dist/ (`npm run build` first) a few times each, and the median is
 * taken. The projection's consumer group is moved to the end first: replaying the history into
 * PostgreSQL is not start-up of the ledger engine, and would take the machine's two cores.
 *
 *   KAFKA_BROKERS=… DATABASE_URL=… npx tsx tools/lease/bench-startup.ts [small] [large] [locks] [runs]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_FOLD_THREADS, ensureStateTopics, LeaseProcessor, LedgerTopics, stateTopicsOf } from '@license-ledger/lease-ledger';
import { ensureTopics, KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { freePort } from '@license-ledger/platform-testing';
import { writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { writeHistory } from './startup-history';

const PARTITIONS = 6;
const root = join(__dirname, '..', '..');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Scenario {
  readonly events: number;
  readonly topics: LedgerTopics;
  readonly groupId: string;
}

interface Figures {
  readonly written: number;
  readonly writeSeconds: number;
  readonly fullFoldSeconds: number;
  readonly leaseSeconds: number[];
  readonly ingressSeconds: number[];
}

async function prepare(brokers: string[], events: number, locks: number): Promise<{ scenario: Scenario; written: number; writeSeconds: number }> {
  const id = randomUUID().slice(0, 8);
  const base = `bench.startup.${id}`;
  const topics = { commands: `${base}.commands`, events: `${base}.events`, replies: `${base}.replies` };
  await ensureTopics(brokers, Object.values(topics).map((name) => ({ name, partitions: PARTITIONS, config: {} })));
  const bus = new KafkaJsMessageBus({ clientId: `bench-startup-${id}`, brokers, logger: silent });
  const state = await ensureStateTopics(brokers, bus, topics.events);
  await bus.close();
  say(`(${events.toLocaleString('en')} events) writing the history to ${topics.events} ...`);
  const written = await writeHistory(brokers, topics.events, PARTITIONS, events, locks, say);
  say(`  wrote ${written.events.toLocaleString('en')} events (${(written.bytes / 1e6).toFixed(0)} MB) in ${written.seconds.toFixed(1)} s = ${Math.round(written.events / written.seconds).toLocaleString('en')} events/s (acks=1, no transactions)`);
  return { scenario: { events: written.events, topics: { ...topics, ...state }, groupId: `bench-startup-${id}` }, written: written.events, writeSeconds: written.seconds };
}

/**
 * A lease instance in this process folds the whole history (no snapshot yet) and claims every
 * partition; a claim after more records than the snapshot policy's count writes the partition's
 * snapshot (a claim logs `claimed` once it has), and every claim writes its key bindings.
 */
async function firstFold(brokers: string[], scenario: Scenario): Promise<{ seconds: number; snapshots: number }> {
  const bus = new KafkaJsMessageBus({ clientId: 'bench-startup-first', brokers, logger: silent });
  const claimed = new Set<number>();
  const snapshotted = new Set<number>();
  let done: () => void = () => undefined;
  const allClaimed = new Promise<void>((resolve) => (done = resolve));
  const note = (fields: object): void => {
    const { event, partition } = fields as { event?: string; partition?: number };
    if (partition === undefined) return;
    if (event === 'snapshot_written') snapshotted.add(partition);
    if (event === 'claimed') claimed.add(partition);
    if (claimed.size === PARTITIONS) done();
  };
  const logger = { ...silent, info: note, warn: (fields: object, message: string) => say(`  warn: ${message} ${JSON.stringify(fields)}`) };
  const started = performance.now();
  // Fold threads as the lease service has them by default.
  const foldThreads = { bus: { clientId: 'bench-first-fold', brokers }, ...DEFAULT_FOLD_THREADS };
  const processor = new LeaseProcessor({ bus, topics: scenario.topics, groupId: scenario.groupId, instanceId: 'bench-first', logger, claimTimeoutMs: 3_600_000, foldThreads });
  await processor.start();
  await allClaimed;
  const seconds = (performance.now() - started) / 1000;
  await processor.stop();
  await bus.close();
  return { seconds, snapshots: snapshotted.size };
}

/** The projection's group at the end of the log, so the service does not replay history into PostgreSQL. */
async function skipProjection(brokers: string[], scenario: Scenario): Promise<void> {
  const admin = new Kafka({ clientId: 'bench-startup-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(scenario.topics.events);
  await admin.setOffsets({ groupId: `${scenario.groupId}.projection`, topic: scenario.topics.events, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
  await admin.disconnect();
}

function serviceEnv(scenario: Scenario, keysDir: string): Record<string, string> {
  return {
    LEASE_COMMANDS_TOPIC: scenario.topics.commands,
    LEASE_EVENTS_TOPIC: scenario.topics.events,
    LEASE_REPLIES_TOPIC: scenario.topics.replies,
    LEASE_GROUP_ID: scenario.groupId,
    LEDGER_GROUP_PREFIX: `${scenario.groupId}.ingress`,
    SERVER_BOX_KEY_FILE: join(keysDir, 'server-box.key'),
    SERVER_SIGN_KEY_FILE: join(keysDir, 'server-sign.key'),
    LOG_LEVEL: 'info',
  };
}

/** Seconds from spawning the built app to `ready` (and what it logged), then stops it (SIGTERM) and waits for its exit. */
async function timeStart(app: 'lease' | 'ingress', env: Record<string, string>, ready: (output: string, port: number) => Promise<boolean>): Promise<{ seconds: number; output: string }> {
  const port = await freePort();
  const main = join(root, 'dist', 'apps', app, 'apps', app, 'src', 'main.js');
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [main], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, PORT: String(port), INSTANCE_ID: `bench-${app}-${randomUUID().slice(0, 6)}` } });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${app} exited:\n${output.slice(-4_000)}`);
      if (await ready(output, port)) return { seconds: (performance.now() - started) / 1000, output };
      if (performance.now() - started > 600_000) throw new Error(`${app} not ready after 10 minutes:\n${output.slice(-4_000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** Every partition claimed: the lease service decides commands from here on. */
const leaseReady = async (output: string): Promise<boolean> => {
  const claimed = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.includes('"claimed"')) continue;
    const fields = JSON.parse(line) as { event?: string; partition?: number };
    if (fields.event === 'claimed' && fields.partition !== undefined) claimed.add(fields.partition);
  }
  return claimed.size === PARTITIONS;
};

const ingressReady = async (_output: string, port: number): Promise<boolean> =>
  fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false);

/** What the lease service's log says it did at start: snapshots loaded (and the slowest load) and records folded after them. */
function leaseStartNotes(output: string): string {
  let loaded = 0;
  let slowestMs = 0;
  let folded = 0;
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const fields = JSON.parse(line) as { event?: string; ms?: number; tail_folded?: number };
    if (fields.event === 'snapshot_loaded') {
      loaded++;
      slowestMs = Math.max(slowestMs, fields.ms ?? 0);
    }
    if (fields.event === 'claimed') folded += fields.tail_folded ?? 0;
  }
  return `${loaded} snapshots loaded (the slowest in ${slowestMs} ms), ${folded.toLocaleString('en')} records folded after them`;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function measure(brokers: string[], events: number, locks: number, runs: number, keysDir: string): Promise<Figures> {
  const { scenario, written, writeSeconds } = await prepare(brokers, events, locks);
  const first = await firstFold(brokers, scenario);
  const fullFoldSeconds = first.seconds;
  say(`  first start, folding the whole history (no snapshot yet; in process): ${fullFoldSeconds.toFixed(1)} s; ${first.snapshots} of ${PARTITIONS} partitions snapshotted at their claim`);
  await skipProjection(brokers, scenario);
  const env = serviceEnv(scenario, keysDir);
  const leaseSeconds: number[] = [];
  const ingressSeconds: number[] = [];
  for (let run = 0; run < runs; run++) {
    const lease = await timeStart('lease', env, leaseReady);
    const ingress = await timeStart('ingress', env, ingressReady);
    leaseSeconds.push(lease.seconds);
    ingressSeconds.push(ingress.seconds);
    say(`  run ${run + 1}: lease ready to decide in ${lease.seconds.toFixed(2)} s (${leaseStartNotes(lease.output)}); ingress key directory loaded in ${ingress.seconds.toFixed(2)} s`);
  }
  if (!process.argv.includes('--keep')) {
    const admin = new Kafka({ clientId: 'bench-startup-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [...Object.values(scenario.topics).filter((t): t is string => t !== undefined), ...Object.values(stateTopicsOf(scenario.topics.events))] }).catch(() => undefined);
    await admin.disconnect();
  }
  return { written, writeSeconds, fullFoldSeconds, leaseSeconds, ingressSeconds };
}

async function main(): Promise<void> {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
  if (brokers.length === 0 || !process.env['DATABASE_URL']) throw new Error('set KAFKA_BROKERS and DATABASE_URL (the lease service keeps its projection there)');
  for (const app of ['lease', 'ingress']) {
    if (!existsSync(join(root, 'dist', 'apps', app))) throw new Error(`dist/apps/${app} is missing: run npm run build first`);
  }
  const [small, large, locks, runs] = process.argv.slice(2).filter((a) => !a.startsWith('--')).map(Number);
  const keysDir = mkdtempSync(join(tmpdir(), 'bench-startup-'));
  writeKeyPairFiles({ dir: keysDir, name: 'server-box', kind: 'box' });
  writeKeyPairFiles({ dir: keysDir, name: 'server-sign', kind: 'sign' });
  const liveLocks = locks ?? 100_000;
  const a = await measure(brokers, small ?? 100_000, liveLocks, runs ?? 3, keysDir);
  const b = await measure(brokers, large ?? 10_000_000, liveLocks, runs ?? 3, keysDir);
  const row = (what: string, x: number, y: number): string => `${what.padEnd(44)} ${x.toFixed(2).padStart(8)} s ${y.toFixed(2).padStart(8)} s ${(y / x).toFixed(2).padStart(7)}`;
  say('');
  say(`start-up over ${liveLocks.toLocaleString('en')} live locks (median of ${a.leaseSeconds.length} runs)`);
  say(`${''.padEnd(44)} ${`(a) ${(a.written / 1e6).toFixed(1)}M ev`.padStart(10)} ${`(b) ${(b.written / 1e6).toFixed(1)}M ev`.padStart(10)} ${'(b)/(a)'.padStart(7)}`);
  say(row('lease: process start to every partition claimed', median(a.leaseSeconds), median(b.leaseSeconds)));
  say(row('ingress: process start to key directory loaded', median(a.ingressSeconds), median(b.ingressSeconds)));
  say(row('without snapshots: the first, full fold', a.fullFoldSeconds, b.fullFoldSeconds));
  say(`target: (b)/(a) at most 1.5; writing the histories took ${a.writeSeconds.toFixed(0)} s and ${b.writeSeconds.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
