/**
 * `npm start`: the whole system on one machine. Starts Kafka and PostgreSQL (or uses KAFKA_BROKERS /
 * DATABASE_URL), applies migrations, starts ingress, lease and metrics from dist/, waits until each
 * is ready and prints where it listens. Ctrl-C stops everything it started, services first.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { bringUpEnvironment, Environment, onShutdownSignal, portFromEnv } from './environment';
import { ensureServerKeys } from './server-keys';

const workspaceRoot = join(__dirname, '..');

interface ServiceSpec {
  readonly name: 'ingress' | 'lease' | 'metrics';
  readonly port: number;
}

interface RunningService extends ServiceSpec {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

const say = (line: string): void => {
  process.stdout.write(`[start] ${line}\n`);
};

const keysDir = join(workspaceRoot, '.data', 'keys');

function spawnService(spec: ServiceSpec, environment: Environment): RunningService {
  const main = join(workspaceRoot, 'dist', 'apps', spec.name, 'apps', spec.name, 'src', 'main.js');
  const child = spawn(process.execPath, ['--enable-source-maps', main], {
    cwd: workspaceRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOST: process.env['HOST'] ?? '127.0.0.1',
      PORT: String(spec.port),
      KAFKA_BROKERS: environment.kafkaBrokers.join(','),
      DATABASE_URL: environment.databaseUrl,
      ...(environment.databasePoolSize ? { DATABASE_POOL_SIZE: String(environment.databasePoolSize) } : {}),
      ...(spec.name === 'ingress' ? ensureServerKeys(keysDir, (line) => say(`development ${line}`)) : {}),
    },
  });
  // Services already log JSON lines carrying their name; pass them through untouched.
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${line}\n`));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { ...spec, child, exited };
}

async function waitUntilReady(service: RunningService, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) throw new Error(`${service.name} exited with code ${service.child.exitCode} while starting`);
    try {
      const response = await fetch(`http://127.0.0.1:${service.port}/health/ready`, { signal: AbortSignal.timeout(3_000) });
      if (response.ok) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`${service.name} was not ready within ${timeoutMs / 1000} s (last answer: ${last})`);
}

async function stopService(service: RunningService): Promise<void> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), 15_000);
  await service.exited;
  clearTimeout(timer);
}

async function main(): Promise<number> {
  const services: ServiceSpec[] = [
    { name: 'ingress', port: portFromEnv('INGRESS_PORT', 3000) },
    { name: 'lease', port: portFromEnv('LEASE_PORT', 3001) },
    { name: 'metrics', port: portFromEnv('METRICS_PORT', 3002) },
  ];
  let environment: Environment | undefined;
  let running: RunningService[] = [];
  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${reason})`);
    await Promise.all(running.map(stopService));
    await environment?.stop();
    say('stopped; nothing left running');
  };
  onShutdownSignal(async (signal) => {
    await shutdown(signal);
    return 0;
  });

  try {
    environment = await bringUpEnvironment({
      kafkaPort: portFromEnv('LOCAL_KAFKA_PORT', 9092),
      kafkaControllerPort: portFromEnv('LOCAL_KAFKA_CONTROLLER_PORT', 9093),
      kafkaDataDir: join(workspaceRoot, '.data', 'kafka'),
      postgresPort: portFromEnv('LOCAL_POSTGRES_PORT', 5433),
      postgresDataDir: join(workspaceRoot, '.data', 'pglite'),
      log: say,
    });
    if (stopping) return 0;
    running = services.map((spec) => spawnService(spec, environment as Environment));
    for (const service of running) {
      void service.exited.then(async (code) => {
        if (stopping) return;
        say(`${service.name} exited unexpectedly (code ${code}); stopping everything`);
        await shutdown(`${service.name} exited`);
        process.exit(1);
      });
    }
    await Promise.all(running.map((service) => waitUntilReady(service, 90_000)));
  } catch (error) {
    say(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown('start failed');
    return 1;
  }

  say('License Ledger is running:');
  for (const service of running) {
    say(`  ${service.name.padEnd(8)} http://127.0.0.1:${service.port}  (pid ${service.child.pid ?? "?"}; health /health/ready, metrics /metrics)`);
  }
  say(`  kafka    ${environment.kafkaBrokers.join(',')}`);
  say(`  postgres ${environment.databaseUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@')}`);
  say('Press Ctrl-C to stop.');
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
