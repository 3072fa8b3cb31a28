import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { KafkaJsMessageBus, Topics } from '@license-ledger/platform-kafka';
import { eventually, freePort, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { workspaceRoot } from './support/built-service';

/**
 * The start command, as a user runs it (`tools/start.ts`), against the broker and database the
 * test run provides: every service becomes ready, a message one service's Kafka adapter would
 * publish reaches another service, and Ctrl-C leaves no process behind.
 */
const { brokers } = integrationEnv();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the start command', () => {
  let start: ChildProcess | undefined;
  const output: string[] = [];

  afterAll(() => {
    if (start && start.exitCode === null) start.kill('SIGKILL');
  });

  it('starts every service ready, carries a message between services, and stops them all on Ctrl-C', async () => {
    const ports = { ingress: await freePort(), lease: await freePort(), metrics: await freePort() };
    const consumerGroup = `e2e-metrics-${randomUUID()}`;
    start = spawn(process.execPath, [require.resolve('tsx/cli'), 'tools/start.ts'], {
      cwd: workspaceRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        INGRESS_PORT: String(ports.ingress),
        LEASE_PORT: String(ports.lease),
        METRICS_PORT: String(ports.metrics),
        TELEMETRY_CONSUMER_GROUP: consumerGroup,
        LOG_LEVEL: 'warn',
      },
    });
    start.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    start.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => start?.once('exit', (code) => resolve(code)));

    const pids = await eventually('the start command to report the running system', 120_000, async () => {
      const text = output.join('');
      if (start?.exitCode !== null) throw new Error(`start exited early:\n${text}`);
      if (!text.includes('Press Ctrl-C to stop.')) return undefined;
      return [...text.matchAll(/\(pid (\d+);/g)].map((m) => Number(m[1]));
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- start output ---\n${output.join('')}`);
    });
    expect(pids).toHaveLength(3);

    for (const [name, port] of Object.entries(ports)) {
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect({ name, status: response.status }).toEqual({ name, status: 200 });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain(`service="${name}"`);
    }

    // Publish through the same adapter the services use; the metrics service must consume it.
    const bus = new KafkaJsMessageBus({ clientId: 'e2e-publisher', brokers, logger: silentLogger });
    const marker = randomUUID();
    try {
      await bus.publish(Topics.telemetry.name, [{ key: marker, value: Buffer.from(JSON.stringify({ marker })) }]);
    } finally {
      await bus.close();
    }
    const consumed = await eventually('the metrics service to consume the message', 60_000, async () => {
      const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
      const match = /telemetry_messages_received_total\{[^}]*\} (\d+)/.exec(text);
      return match && Number(match[1]) >= 1 ? Number(match[1]) : undefined;
    });
    expect(consumed).toBeGreaterThanOrEqual(1);

    start.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(output.join('')).toContain('stopped; nothing left running');
  }, 180_000);
});
