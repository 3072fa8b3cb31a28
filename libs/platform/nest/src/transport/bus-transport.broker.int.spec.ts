import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, freePort, silentLogger } from '@license-ledger/platform-testing';
import type { BusRoutes } from './bus-routes';
import { Recorder, startTestApp, TestApp } from './transport-test-app';

/**
 * The transport's readiness follows the broker: a broker of this test's own (started through the
 * project's CLI, as the fault suite does) is killed -9 and started again on its data and ports.
 */
jest.setTimeout(300_000);

const workspaceRoot = join(__dirname, '..', '..', '..', '..', '..');
const tsx = require.resolve('tsx/cli');

/**
 * A single-node broker started through the project's CLI on fixed ports and a data directory of its
 * own, so it can be killed (the CLI ends with its only node) and started again on the same data.
 */
class OwnBroker {
  private cli: ChildProcess | undefined;
  private output = '';
  private readonly dataDir = mkdtempSync(join(tmpdir(), 'll-transport-broker-'));

  private constructor(
    private readonly port: number,
    private readonly controllerPort: number,
  ) {}

  static async start(): Promise<OwnBroker> {
    const broker = new OwnBroker(await freePort(), await freePort());
    await broker.startCli(['--fresh']);
    return broker;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Starts the CLI (and with it the broker, on its data as it was) and waits until it serves. */
  async startCli(extra: readonly string[] = []): Promise<void> {
    // Without the run's KAFKA_BROKERS, or the CLI would only create topics there.
    const env = { ...process.env };
    delete env['KAFKA_BROKERS'];
    const args = ['tools/kafka/cli.ts', 'start', '--port', String(this.port), '--controller-port', String(this.controllerPort), '--data-dir', this.dataDir, '--control', ...extra];
    const cli = spawn(process.execPath, [tsx, ...args], { cwd: workspaceRoot, stdio: ['pipe', 'pipe', 'pipe'], env });
    this.cli = cli;
    this.output = '';
    const keep = (chunk: Buffer): void => void (this.output = (this.output + chunk.toString('utf8')).slice(-50_000));
    cli.stdout?.on('data', keep);
    cli.stderr?.on('data', keep);
    await eventually('the test broker to start', 180_000, async (fail) => {
      if (cli.exitCode !== null) fail(`the CLI exited with ${cli.exitCode}:\n${this.output}`);
      return this.output.includes('Press Ctrl-C to stop.') ? true : undefined;
    }, 250);
  }

  /** kill -9 of the broker's JVM; the CLI ends with it. */
  async kill(): Promise<void> {
    const cli = this.cli;
    if (!cli) throw new Error('no broker running');
    const exited = cli.exitCode === null ? new Promise((resolve) => cli.once('exit', resolve)) : Promise.resolve();
    cli.stdin?.write('kill 1\n');
    await exited;
  }

  async stop(): Promise<void> {
    const cli = this.cli;
    if (cli && cli.exitCode === null) {
      const exited = new Promise((resolve) => cli.once('exit', resolve));
      cli.kill('SIGINT');
      await exited;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

describe('BusTransport readiness when the broker goes away', () => {
  let broker: OwnBroker | undefined;
  let started: TestApp | undefined;
  let bus: KafkaJsMessageBus | undefined;
  afterAll(async () => {
    await started?.app.close();
    await bus?.close();
    await broker?.stop();
  });

  it('flips every route to not ready while the broker is dead, and reads again once it is back', async () => {
    const own = await OwnBroker.start();
    broker = own;
    const topics = await createTestTopics(own.brokers, 'test.transport', ['work', 'events', 'replies'], 1);
    const routes: BusRoutes = {
      telemetry: { kind: 'shared', topic: topics.work, groupId: 'test-transport-work', fromBeginning: true, maxWaitMs: 100, readiness: 'work' },
      leaseEvents: { kind: 'catch-up', topic: topics.events, groupId: 'test-transport-events', maxWaitMs: 100, readiness: 'events' },
      leaseReplies: { kind: 'key-partition', topic: topics.replies, key: 'me', name: 'test-transport-replies', maxWaitMs: 50, readiness: 'replies' },
    };
    const recorder = new Recorder();
    started = await startTestApp(own.brokers, routes, recorder);
    const app = started;
    await eventually('the service ready', 60_000, async () => ((await app.readiness()).status === 200 ? true : undefined));

    await own.kill();
    const down = await eventually('every route not ready', 60_000, async () => {
      const { status, checks } = await app.readiness();
      return ['kafka', 'work', 'events', 'replies'].every((name) => checks[name]?.ok === false) ? { status, checks } : undefined;
    });
    expect(down.status).toBe(503);
    expect(app.transport.isLive('telemetry') && app.transport.isLive('leaseReplies') && app.transport.isLive('leaseEvents')).toBe(false);

    await own.startCli();
    await eventually('the service ready again', 120_000, async () => ((await app.readiness()).status === 200 ? true : undefined), 250);
    bus = new KafkaJsMessageBus({ clientId: 'transport-broker-test', brokers: own.brokers, logger: silentLogger });
    await bus.publish(topics.work, [{ key: 'k', value: Buffer.from('after-restart') }]);
    await bus.publish(topics.events, [{ key: 'k', value: Buffer.from('after-restart') }]);
    await bus.publish(topics.replies, [{ key: 'me', value: Buffer.from('after-restart') }]);
    await eventually('every route handling records again', 120_000, async () =>
      ['telemetry', 'leaseEvents', 'leaseReplies'].every((pattern) => recorder.values(pattern).includes('after-restart')) ? true : undefined,
    );
    expect(recorder.values('leaseReplies')).toEqual(['after-restart']);
  });
});
