/**
 * Local Kafka for development, without Docker.
 *
 *   tsx tools/kafka/cli.ts start [--brokers N] [--port 9092] [--controller-port N] [--data-dir DIR] [--fresh] [--control]
 *       Starts a single-node KRaft broker (or, with --brokers 3, a cluster of three KRaft nodes,
 *       each broker and controller, on ports 9092, 9093, 9094), creates the project's topics,
 *       prints the brokers and stays in the foreground; Ctrl-C (or SIGTERM) stops it cleanly, a
 *       second Ctrl-C kills it. Data persists in .data/kafka (.data/kafka-cluster for several
 *       nodes) between runs unless --fresh. A cluster keeps running while one node is down.
 *       --control reads commands from stdin, one a line: `kill <id>` (SIGKILL), `start <id>`,
 *       `stop`; each answers with a line `[kafka] control: …` (fault tests drive it this way).
 *       With KAFKA_BROKERS set, starts nothing: only creates the missing topics on that cluster.
 *   tsx tools/kafka/cli.ts fetch
 *       Only resolves and caches the broker jars (.cache/kafka/<version>/libs).
 *
 * Environment: KAFKA_PORT (default for --port), KAFKA_BROKERS (use an external cluster).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ensureKafkaJars, ensureTopics, kafkaVersion, startLocalKafka } from './local-kafka';
import type { LocalKafka } from './local-kafka';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const USAGE = `Usage:
  tsx tools/kafka/cli.ts start [--brokers 1|3] [--port 9092|0] [--controller-port N] [--data-dir DIR] [--fresh] [--control]
  tsx tools/kafka/cli.ts fetch
Set KAFKA_BROKERS=host:port[,host:port] to only create the topics on an existing cluster.`;

const log = (msg: string): void => console.log(`[kafka] ${msg}`);

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'controller-port': { type: 'string' },
      'data-dir': { type: 'string' },
      fresh: { type: 'boolean', default: false },
      brokers: { type: 'string' },
      control: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || positionals.length !== 1) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }

  switch (command) {
    case 'fetch': {
      const dir = await ensureKafkaJars(log);
      log(`Kafka ${kafkaVersion()} jars: ${dir}`);
      return 0;
    }
    case 'start':
      return start(values);
    default:
      console.error(`Unknown command "${command}".\n${USAGE}`);
      return 2;
  }
}

async function start(values: {
  port?: string | undefined;
  'controller-port'?: string | undefined;
  'data-dir'?: string | undefined;
  fresh?: boolean | undefined;
  brokers?: string | undefined;
  control?: boolean | undefined;
}): Promise<number> {
  const external = parseBrokers(process.env['KAFKA_BROKERS']);
  if (external.length > 0) {
    log(`KAFKA_BROKERS is set (${external.join(',')}): not starting a broker, only ensuring topics there.`);
    await ensureTopics(external, undefined, { log });
    return 0;
  }

  const brokers = Number(values.brokers ?? '1');
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 9) throw new Error(`--brokers: "${values.brokers}" is not a node count from 1 to 9`);
  // --port 0: free ports picked by the OS (tests).
  const portValue = values.port ?? process.env['KAFKA_PORT'] ?? '9092';
  const port = portValue === '0' ? undefined : parsePort(portValue, '--port');
  if (brokers > 1 && values['controller-port'] !== undefined) throw new Error('--controller-port is for a single node; a cluster picks free controller ports');
  const controllerPort = values['controller-port'] === undefined ? undefined : parsePort(values['controller-port'], '--controller-port');
  const dataDir = path.resolve(values['data-dir'] ?? path.join(REPO_ROOT, '.data', brokers === 1 ? 'kafka' : 'kafka-cluster'));
  if (values.fresh) fs.rmSync(dataDir, { recursive: true, force: true });

  const kafka = await startLocalKafka({ brokers, ...(port === undefined ? {} : { port }), controllerPort, dataDir, log });
  const pids = kafka.nodes.map((n) => `node ${n.id} pid ${n.pid} on ${n.broker}`).join(', ');
  log(`Kafka ${kafkaVersion()} running (${pids}). Logs: ${kafka.nodes.map((n) => n.logFile).join(', ')}`);
  console.log(`KAFKA_BROKERS=${kafka.brokers.join(',')}`);
  if (values.control) control(kafka);
  log('Press Ctrl-C to stop.');

  return new Promise<number>((resolve) => {
    let stopRequested = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopRequested) {
        log(`${sig} again: killing the broker`);
        for (const node of kafka.nodes) void node.kill('SIGKILL');
        return;
      }
      stopRequested = true;
      log(`${sig}: stopping the broker (controlled shutdown)...`);
      kafka.stop().then(
        () => resolve(0),
        (err: unknown) => {
          console.error(err);
          resolve(1);
        },
      );
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

    void kafka.exited.then(({ code, signal }) => {
      if (stopRequested) return;
      console.error(`[kafka] The broker exited on its own (code ${code}, signal ${signal}). See ${kafka.nodes.map((n) => n.logFile).join(', ')}`);
      resolve(1);
    });
  });
}

/** `kill <id>`, `start <id>`, `stop` on stdin; answers on stdout. Ends with stdin (the CLI stays up). */
function control(kafka: LocalKafka): void {
  const say = (line: string): void => log(`control: ${line}`);
  const lines = createInterface({ input: process.stdin });
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    const [command, arg] = line.trim().split(/\s+/);
    const node = kafka.nodes.find((n) => String(n.id) === arg);
    queue = queue.then(async () => {
      try {
        if (command === 'stop') return void process.kill(process.pid, 'SIGTERM');
        if (!node) return say(`error: no node "${arg ?? ''}" (have ${kafka.nodes.map((n) => n.id).join(', ')})`);
        if (command === 'kill') {
          const exit = await node.kill('SIGKILL');
          say(`node ${node.id} killed (signal ${exit.signal})`);
        } else if (command === 'start') {
          await node.start();
          say(`node ${node.id} started (pid ${node.pid})`);
        } else {
          say(`error: unknown command "${command ?? ''}" (kill <id>, start <id>, stop)`);
        }
      } catch (error) {
        say(`error: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  });
}

function parseBrokers(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

function parsePort(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}: "${value}" is not a TCP port`);
  return port;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[kafka] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
