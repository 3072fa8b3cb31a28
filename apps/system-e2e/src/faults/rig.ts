/**
 * The fault suite's own infrastructure, so it can break it: a Kafka broker and an embedded
 * PostgreSQL started through the project's own CLIs (as ops would), which the suite kills,
 * stops and starts again on the same data. Nothing here is a stand-in: both are the real servers.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort } from '@license-ledger/platform-testing';
import { workspaceRoot } from '../support/built-service';

const run = promisify(execFile);
const tsx = require.resolve('tsx/cli');

/**
 * The test run's environment without its broker and database: the CLIs started here must start
 * servers of their own, not reuse (and only create topics on) the run's infrastructure.
 */
export function ownInfrastructureEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['KAFKA_BROKERS', 'DATABASE_URL', 'DATABASE_POOL_SIZE']) delete env[name];
  return env;
}

/** Pids of processes whose command line contains every one of `needles` (like pgrep -f). */
export function pidsMentioning(...needles: string[]): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        return needles.every((needle) => cmdline.includes(needle));
      } catch {
        return false;
      }
    })
    .map(Number);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resident memory of a process in MiB (from /proc). */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

/** A long-running CLI of ours, started and waited for until it prints `readyText`. */
async function startCli(args: readonly string[], readyText: string, timeoutMs: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [tsx, ...args], { cwd: workspaceRoot, stdio: ['ignore', 'pipe', 'pipe'], env: ownInfrastructureEnv() });
  let output = '';
  const collect = (chunk: Buffer): void => void (output = (output + chunk.toString('utf8')).slice(-8_000));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  await eventually(`${args[0]} to print "${readyText}"`, timeoutMs, async (fail) => {
    if (child.exitCode !== null) fail(`exited with ${child.exitCode}:\n${output}`);
    return output.includes(readyText) ? true : undefined;
  });
  return child;
}

async function stopCli(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
}

export class KafkaRig {
  private cli: ChildProcess | undefined;

  private constructor(
    private readonly dataDir: string,
    readonly port: number,
    private readonly controllerPort: number,
  ) {}

  static async start(dataDir: string): Promise<KafkaRig> {
    const rig = new KafkaRig(dataDir, await freePort(), await freePort());
    await rig.startBroker(['--fresh']);
    return rig;
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the broker on its data directory (as it was) and waits until it serves the topics. */
  async startBroker(extra: readonly string[] = []): Promise<void> {
    const args = ['tools/kafka/cli.ts', 'start', '--port', String(this.port), '--controller-port', String(this.controllerPort), '--data-dir', this.dataDir, ...extra];
    this.cli = await startCli(args, 'Press Ctrl-C to stop.', 120_000);
  }

  /** kill -9 of the broker's JVM: no shutdown, no flush, as a crashed machine. */
  async killBroker(): Promise<void> {
    const jvms = pidsMentioning('kafka.Kafka', this.dataDir);
    if (jvms.length === 0) throw new Error('no broker process to kill');
    for (const pid of jvms) process.kill(pid, 'SIGKILL');
    await eventually('the broker to be gone', 10_000, async () => (jvms.some(isAlive) ? undefined : true));
    await stopCli(this.cli);
  }

  async stop(): Promise<void> {
    await stopCli(this.cli);
  }
}

export class PostgresRig {
  private cli: ChildProcess | undefined;

  private constructor(
    private readonly dataDir: string,
    readonly port: number,
  ) {}

  static async start(dataDir: string): Promise<PostgresRig> {
    const rig = new PostgresRig(dataDir, await freePort());
    await rig.startServer();
    await run(process.execPath, [tsx, 'tools/db/migrate.ts', 'deploy'], { cwd: workspaceRoot, env: { ...ownInfrastructureEnv(), DATABASE_URL: rig.url } });
    return rig;
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/license_ledger`;
  }

  async startServer(): Promise<void> {
    this.cli = await startCli(['tools/db/embedded-postgres.ts', '--port', String(this.port), '--data-dir', this.dataDir], 'embedded-postgres ready', 60_000);
  }

  /** A fast shutdown: every connection is cut, as in a failover of a managed database. */
  async stopServer(): Promise<void> {
    await stopCli(this.cli);
  }
}

const ledgerCliMain = join(workspaceRoot, 'dist', 'apps', 'ledger-cli', 'apps', 'ledger-cli', 'src', 'main.js');

/** `ledger verify` as ops run it; resolves with its exit code and output. */
export async function ledgerVerify(env: Record<string, string>): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ledgerCliMain, 'verify'], { cwd: workspaceRoot, env: { ...process.env, ...env } });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}
