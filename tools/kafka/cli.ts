/**
 * Local Kafka for development, without Docker.
 *
 *   tsx tools/kafka/cli.ts start [--port 9092] [--controller-port N] [--data-dir DIR] [--fresh]
 *       Starts a single-node KRaft broker, creates the project's topics, prints the brokers and
 *       stays in the foreground; Ctrl-C (or SIGTERM) stops the broker cleanly, a second Ctrl-C
 *       kills it. Data persists in .data/kafka between runs unless --fresh.
 *       With KAFKA_BROKERS set, starts nothing: only creates the missing topics on that cluster.
 *   tsx tools/kafka/cli.ts fetch
 *       Only resolves and caches the broker jars (.cache/kafka/<version>/libs).
 *
 * Environment: KAFKA_PORT (default for --port), KAFKA_BROKERS (use an external cluster).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureKafkaJars, ensureTopics, kafkaVersion, startLocalKafka } from './local-kafka';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const USAGE = `Usage:
  tsx tools/kafka/cli.ts start [--port 9092] [--controller-port N] [--data-dir DIR] [--fresh]
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
}): Promise<number> {
  const external = parseBrokers(process.env['KAFKA_BROKERS']);
  if (external.length > 0) {
    log(`KAFKA_BROKERS is set (${external.join(',')}): not starting a broker, only ensuring topics there.`);
    await ensureTopics(external, undefined, { log });
    return 0;
  }

  const port = parsePort(values.port ?? process.env['KAFKA_PORT'] ?? '9092', '--port');
  const controllerPort = values['controller-port'] === undefined ? undefined : parsePort(values['controller-port'], '--controller-port');
  const dataDir = path.resolve(values['data-dir'] ?? path.join(REPO_ROOT, '.data', 'kafka'));
  if (values.fresh) fs.rmSync(dataDir, { recursive: true, force: true });

  const kafka = await startLocalKafka({ port, controllerPort, dataDir, log });
  log(`Kafka ${kafkaVersion()} running (pid ${kafka.pid}). Logs: ${kafka.logFile}`);
  console.log(`KAFKA_BROKERS=${kafka.brokers.join(',')}`);
  log('Press Ctrl-C to stop.');

  return new Promise<number>((resolve) => {
    let stopRequested = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopRequested) {
        log(`${sig} again: killing the broker`);
        try {
          process.kill(kafka.pid, 'SIGKILL');
        } catch {
          // already gone
        }
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
      console.error(`[kafka] The broker exited on its own (code ${code}, signal ${signal}). See ${kafka.logFile}`);
      resolve(1);
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
