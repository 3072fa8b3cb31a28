/**
 * `npm start`: the whole system on one machine. Starts Kafka and PostgreSQL (or uses KAFKA_BROKERS /
 * DATABASE_URL), applies migrations, starts ingress, lease and metrics from dist/, waits until each
 * is ready and prints where it listens. A service that exits on its own is restarted with backoff
 * (tools/supervisor.ts); a crash loop stops everything with exit code 1. Ctrl-C stops everything it
 * started, services first. LICENSE_LEDGER_DATA_DIR (default `<repo>/.data`) holds keys and data.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { bringUpEnvironment, Environment, onShutdownSignal, portFromEnv } from './environment';
import { ensureLedgerKey, ensureServerKeys } from './server-keys';
import { clip, decideRestart, describeExit, formatDuration, lastErrorLine, OutputTail, pruneExits, ServiceExit } from './supervisor';

const workspaceRoot = join(__dirname, '..');
const READY_TIMEOUT_MS = 90_000;
/** Lines of a dead service's output repeated in the restart notice. */
const TAIL_LINES_SHOWN = 5;

type ServiceName = 'ingress' | 'lease' | 'metrics';

interface ServiceSpec {
  readonly name: ServiceName;
  readonly port: number;
}

interface SupervisorHooks {
  isStopping(): boolean;
  giveUp(service: ServiceName, reason: string): void;
}

const say = (line: string): void => {
  process.stdout.write(`[start] ${line}\n`);
};

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

const mainOf = (name: ServiceName): string => join(workspaceRoot, 'dist', 'apps', name, 'apps', name, 'src', 'main.js');

/** One service and its successive processes: spawns, watches readiness, restarts per the policy. */
class SupervisedService {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private exits: ServiceExit[] = [];
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly tail = new OutputTail();
  private everReady = false;
  private lastAnswer = 'no answer yet';
  private resolveFirstReady: () => void = () => undefined;
  /** Resolves the first time any process of this service is ready. */
  readonly firstReady = new Promise<void>((done) => (this.resolveFirstReady = done));

  constructor(
    readonly spec: ServiceSpec,
    private readonly env: NodeJS.ProcessEnv,
    private readonly hooks: SupervisorHooks,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isReady(): boolean {
    return this.everReady;
  }

  get notReadyReason(): string {
    return `${this.spec.name} was not ready within ${READY_TIMEOUT_MS / 1000} s (last answer: ${this.lastAnswer})`;
  }

  start(): void {
    if (this.hooks.isStopping()) return; // a restart timer must never outlive shutdown
    this.tail.clear();
    this.lastAnswer = 'no answer yet';
    this.startedAt = Date.now();
    // Own process group: Ctrl-C reaches only us, and we stop services in order instead of racing them.
    const child = spawn(process.execPath, ['--enable-source-maps', mainOf(this.spec.name)], {
      cwd: workspaceRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.env,
      detached: true,
    });
    this.child = child;
    let settled = false;
    this.exited = new Promise<void>((done) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void => {
        if (settled) return;
        settled = true;
        done();
        this.onExit(child, code, signal, spawnError);
      };
      // 'close' rather than 'exit': its output is fully read by then, so the tail holds the last words.
      child.once('close', (code, signal) => onEnd(code, signal));
      // Without a pid the process never ran, so no 'exit' will follow.
      child.once('error', (error) => {
        if (child.pid === undefined) onEnd(null, null, error.message);
      });
    });
    // Services log JSON lines carrying their name; pass them through and remember the last few.
    for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.tail.push(name, line);
        process.stdout.write(`${line}\n`);
      });
    }
    void this.watchReadiness(child);
  }

  /** Stops the current process (SIGTERM, SIGKILL after 15 s) and cancels a pending restart. */
  async stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Last resort on process exit: never leave a detached service behind. */
  killNow(): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    if (this.hooks.isStopping() || child !== this.child) return;
    const now = Date.now();
    const lines = this.tail.recent();
    const cause = describeExit(code, signal, spawnError ?? lastErrorLine(lines));
    this.exits = pruneExits([...this.exits, { startedAt: this.startedAt, at: now, cause }], now);
    const decision = decideRestart(this.exits);
    const exited = `${this.spec.name} exited (code ${code}, signal ${signal})`;
    const showTail = (): void => lines.slice(-TAIL_LINES_SHOWN).forEach((line) => say(`  ${this.spec.name} ${line.stream}| ${clip(line.text, 300)}`));
    if (decision.action === 'give-up') {
      say(lines.length > 0 ? `${exited}; its last output:` : exited);
      showTail();
      this.hooks.giveUp(this.spec.name, decision.reason);
      return;
    }
    this.restarts++;
    say(`${exited}; restarting in ${formatDuration(decision.delayMs)} (restart ${this.restarts})`);
    showTail();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, decision.delayMs);
  }

  /** Polls /health/ready while this process lives; reports a restarted one once it is ready again. */
  private async watchReadiness(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const alive = (): boolean => this.child === child && child.exitCode === null && child.signalCode === null && !this.hooks.isStopping();
    while (alive()) {
      try {
        const response = await fetch(`http://127.0.0.1:${this.spec.port}/health/ready`, { signal: AbortSignal.timeout(3_000) });
        if (response.ok && alive()) {
          if (this.everReady) say(`${this.spec.name} is ready again (pid ${child.pid ?? '?'})`);
          this.everReady = true;
          this.resolveFirstReady();
          return;
        }
        this.lastAnswer = `${response.status} ${await response.text()}`;
      } catch (error) {
        this.lastAnswer = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() > deadline) {
        // At startup main() reports this; later it is only a warning, the process keeps running.
        if (this.everReady && alive()) say(`warning: ${this.notReadyReason} after restart ${this.restarts}`);
        return;
      }
      await sleep(300);
    }
  }
}

async function main(): Promise<number> {
  const dataDir = resolve(process.env['LICENSE_LEDGER_DATA_DIR'] || join(workspaceRoot, '.data'));
  const specs: ServiceSpec[] = [
    { name: 'ingress', port: portFromEnv('INGRESS_PORT', 3000) },
    { name: 'lease', port: portFromEnv('LEASE_PORT', 3001) },
    { name: 'metrics', port: portFromEnv('METRICS_PORT', 3002) },
  ];
  const missing = specs.filter((spec) => !existsSync(mainOf(spec.name)));
  if (missing.length > 0) {
    say(`not built: ${missing.map((spec) => mainOf(spec.name)).join(', ')}; run npm run build`);
    return 1;
  }

  let environment: Environment | undefined;
  let services: SupervisedService[] = [];
  let exitCode = 0;
  let stopped: Promise<void> | undefined;
  let announceStopping: () => void = () => undefined;
  const stoppingStarted = new Promise<'stopping'>((done) => (announceStopping = () => done('stopping')));
  // Memoised so every caller (signal, give-up, failed start) waits for the same, complete shutdown.
  const shutdown = (reason: string): Promise<void> =>
    (stopped ??= (async () => {
      announceStopping();
      say(`stopping (${reason})`);
      await Promise.all(services.map((service) => service.stop()));
      await environment?.stop();
      say('stopped; nothing left running');
    })());
  const hooks: SupervisorHooks = {
    isStopping: () => stopped !== undefined,
    giveUp: (name, reason) => {
      exitCode = 1;
      say(`${name} ${reason}; stopping everything`);
      void shutdown(`${name} keeps failing`).then(() => process.exit(exitCode));
    },
  };
  onShutdownSignal(async (signal) => {
    await shutdown(signal);
    return exitCode;
  });
  process.on('exit', () => services.forEach((service) => service.killNow()));

  try {
    environment = await bringUpEnvironment({
      kafkaPort: portFromEnv('LOCAL_KAFKA_PORT', 9092),
      kafkaControllerPort: portFromEnv('LOCAL_KAFKA_CONTROLLER_PORT', 9093),
      kafkaDataDir: join(dataDir, 'kafka'),
      postgresPort: portFromEnv('LOCAL_POSTGRES_PORT', 5433),
      postgresDataDir: join(dataDir, 'postgres'),
      log: say,
    });
    if (stopped) return -1; // Ctrl-C while starting: the signal handler finishes and exits
    const keyFiles = ensureServerKeys(join(dataDir, 'keys'), (line) => say(`development ${line}`));
    const ledgerKeyFile = ensureLedgerKey(join(dataDir, 'keys'), (line) => say(`development ${line}`));
    const baseEnv: NodeJS.ProcessEnv = {
      ...process.env,
      HOST: process.env['HOST'] ?? '127.0.0.1',
      KAFKA_BROKERS: environment.kafkaBrokers.join(','),
      DATABASE_URL: environment.databaseUrl,
    };
    services = specs.map(
      (spec) =>
        new SupervisedService(spec, { ...baseEnv, PORT: String(spec.port), ...(spec.name === 'ingress' ? keyFiles : {}), ...(spec.name === 'lease' ? ledgerKeyFile : {}) }, hooks),
    );
    services.forEach((service) => service.start());
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((done) => (timer = setTimeout(() => done('timeout'), READY_TIMEOUT_MS)));
    const outcome = await Promise.race([
      Promise.all(services.map((service) => service.firstReady)).then(() => 'ready' as const),
      timedOut,
      stoppingStarted, // a give-up or Ctrl-C during startup owns the exit from here on
    ]);
    clearTimeout(timer);
    if (outcome === 'stopping' || stopped) return -1;
    if (outcome === 'timeout') {
      throw new Error(services.filter((service) => !service.isReady).map((service) => service.notReadyReason).join('; '));
    }
  } catch (error) {
    if (stopped) return -1;
    say(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown('start failed');
    return 1;
  }

  say('License Ledger is running:');
  for (const service of services) {
    say(`  ${service.spec.name.padEnd(8)} http://127.0.0.1:${service.spec.port}  (pid ${service.pid ?? '?'}; health /health/ready, metrics /metrics)`);
  }
  say(`  kafka    ${environment.kafkaBrokers.join(',')}`);
  say(`  postgres ${environment.databaseUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@')}`);
  say(`  data     ${dataDir} (keys; kafka and postgres when started here)`);
  say('Services that exit are restarted with backoff. Press Ctrl-C to stop.');
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
