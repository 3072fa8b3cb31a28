import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaJsMessageBus } from '../kafkajs-message-bus';
import { readRangesLean } from './lean-range-reader';

/**
 * The lean reader on a three-node cluster of its own (tools/kafka/cli.ts --brokers 3 --control):
 * the broker leading the most partitions is killed -9 in the middle of a read, and the read still
 * hands over every committed record exactly once.
 */
jest.setTimeout(300_000);

const workspaceRoot = join(__dirname, '..', '..', '..', '..', '..');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `output()` matches `pattern`; fails when the CLI exits first or the time is up. */
async function waitForOutput(cli: ChildProcess, output: () => string, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(output());
    if (match) return match;
    if (cli.exitCode !== null) throw new Error(`the cluster CLI exited with ${cli.exitCode}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} from the cluster CLI in ${timeoutMs} ms:\n${output().slice(-4_000)}`);
    await sleep(200);
  }
}

describe('readRangesLean on a three-broker cluster', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lean-cluster-'));
  let cli: ChildProcess;
  let output = '';
  let brokers: string[];

  beforeAll(async () => {
    const env = { ...process.env };
    delete env['KAFKA_BROKERS']; // set by npm test for its own broker; the CLI would only use it
    const args = [require.resolve('tsx/cli'), 'tools/kafka/cli.ts', 'start', '--brokers', '3', '--port', '0', '--data-dir', dataDir, '--fresh', '--control'];
    cli = spawn(process.execPath, args, { cwd: workspaceRoot, stdio: ['pipe', 'pipe', 'pipe'], env });
    const collect = (chunk: Buffer): void => void (output = (output + chunk.toString('utf8')).slice(-100_000));
    cli.stdout?.on('data', collect);
    cli.stderr?.on('data', collect);
    const [, list] = await waitForOutput(cli, () => output, /^KAFKA_BROKERS=(.+)$/m, 240_000);
    brokers = (list ?? '').trim().split(',');
    await waitForOutput(cli, () => output, /Press Ctrl-C to stop\./, 60_000);
  });

  afterAll(async () => {
    if (cli && cli.exitCode === null) {
      // tsx may exit before the CLI it runs has stopped the nodes: the CLI's last line tells.
      const from = output.length;
      cli.kill('SIGINT');
      const deadline = Date.now() + 60_000;
      while (!output.slice(from).includes('Kafka stopped') && Date.now() < deadline) await sleep(200);
      if (!output.slice(from).includes('Kafka stopped')) throw new Error(`the cluster did not stop:\n${output.slice(-4_000)}`);
    }
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 500 });
  });

  it('reads every committed record exactly once while the leader of most partitions is killed -9', async () => {
    const kafka = new Kafka({ clientId: 'test-lean-cluster', brokers, logLevel: logLevel.NOTHING });
    const topic = 'test.lean.cluster';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }], waitForLeaders: false });
    // kafkajs's own wait gives up while a broker does not know the new topic yet.
    const leaders = async (): Promise<ReadonlyMap<number, number>> => {
      for (let attempt = 0; ; attempt++) {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => ({ topics: [] }));
        const partitions = topics[0]?.partitions ?? [];
        if (partitions.length === 3 && partitions.every((p) => p.leader >= 0)) return new Map(partitions.map((p) => [p.partitionId, p.leader]));
        if (attempt > 100) throw new Error(`${topic} has no leaders`);
        await sleep(300);
      }
    };
    await leaders();
    const producer = kafka.producer({ transactionalId: 'test-lean-cluster', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const committed = new Set<string>();
    for (let t = 0; t < 60; t++) {
      const transaction = await producer.transaction();
      const values = Array.from({ length: 30 }, (_, i) => `t${t}-r${i}`);
      await transaction.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value, partition: i % 3 })) });
      if (t % 4 === 3) await transaction.abort();
      else {
        await transaction.commit();
        for (const value of values) committed.add(value);
      }
    }
    await producer.disconnect();
    const led = new Map<number, number>();
    for (const leader of (await leaders()).values()) led.set(leader, (led.get(leader) ?? 0) + 1);
    await admin.disconnect();
    const [victim] = [...led.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
    if (victim === undefined) throw new Error(`no leaders for ${topic}`);

    const bus = new KafkaJsMessageBus({ clientId: 'test-lean-cluster', brokers, logger: silent });
    const ranges = await bus.partitionRanges(topic);
    await bus.close();
    const read: Array<{ partition: number; offset: string; value: string }> = [];
    const positions = new Map<number, string>();
    let calls = 0;
    let killed: Promise<void> | undefined;
    await readRangesLean(
      // Answers of a batch or two, so the read is still going when the broker goes.
      { clientId: 'test-lean-cluster', brokers, maxBytes: 3_000, partitionMaxBytes: 1_500 },
      {
        topic,
        ranges,
        onMessages: async (messages) => {
          for (const m of messages) read.push({ partition: m.partition, offset: m.offset, value: m.value.toString('utf8') });
          if (++calls === 5) {
            const from = output.length;
            cli.stdin?.write(`kill ${victim}\n`);
            killed = waitForOutput(cli, () => output.slice(from), new RegExp(`control: node ${victim} killed`), 30_000).then(() => undefined);
            await killed;
          }
          await sleep(10);
        },
        onPosition: (partition, next) => void positions.set(partition, next),
      },
    );
    expect(killed).toBeDefined();
    expect(calls).toBeGreaterThan(5);
    const offsets = read.map((r) => `${r.partition}:${r.offset}`);
    expect(new Set(offsets).size).toBe(offsets.length);
    expect(read.map((r) => r.value).sort()).toEqual([...committed].sort());
    expect(positions).toEqual(new Map(ranges.map((r) => [r.partition, r.end])));
  });
});
