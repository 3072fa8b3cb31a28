/**
 * The services an ingress benchmark runs against: processes started from a built dist/ tree (this
 * repository's, or another checkout's for a before/after comparison), and their topics.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '@license-ledger/platform-testing';

export interface RunningService {
  readonly child: ChildProcess;
  readonly url: string;
}

/**
 * Starts dist/apps/<app> of `distRoot` and waits until /health/ready answers 200 (and, given, a line
 * containing `readyLine` was logged). BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
 * goes to the ingress, BENCH_LEASE_NODE_ARGS to the lease service.
 */
export async function startService(distRoot: string, app: 'lease' | 'ingress', env: Record<string, string>, readyLine?: string): Promise<RunningService> {
  const port = await freePort();
  const nodeArgs = (process.env[app === 'ingress' ? 'BENCH_NODE_ARGS' : 'BENCH_LEASE_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(distRoot, 'apps', app, 'apps', app, 'src', 'main.js')], {
    cwd: join(distRoot, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    if (output.length < 100_000) output += chunk.toString('utf8');
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; ; ) {
    if (child.exitCode !== null) throw new Error(`${app} exited:\n${output}`);
    const ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ready && (!readyLine || output.includes(readyLine))) return { child, url };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${app} not ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** SIGTERM, then the exit: the next variant must not share the CPU with this one's shutdown. */
export async function stopService(service: RunningService): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

/** CPU seconds (user + system) a process has used so far; NaN where /proc is not there. */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name, in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export async function createTopics(brokers: readonly string[], names: readonly string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'ingress-bench-admin', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: 6 })) });
    for (let i = 0; i < 100; i++) {
      const metadata = await admin.fetchTopicMetadata({ topics: [...names] }).catch(() => undefined);
      if (metadata?.topics.every((t) => t.partitions.length === 6 && t.partitions.every((p) => p.leader >= 0))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}
