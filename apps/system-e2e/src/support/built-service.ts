import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '@license-ledger/platform-testing';

export const workspaceRoot = join(__dirname, '..', '..', '..', '..');

export interface BuiltService {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything the service printed so far (its JSON log lines). */
  readonly output: string[];
}

/**
 * Starts one of the apps from dist/ (as `npm start` and a deployment would) on a free port, with
 * the test run's environment plus `env`, and waits until `isReady` says so (by default: its
 * /health/ready answers 200). Fails with the service's output if it exits or never gets ready.
 */
export async function startBuiltService(
  app: 'lease' | 'ingress' | 'metrics',
  env: Readonly<Record<string, string>>,
  instanceId: string,
  isReady: (port: number, output: string) => Promise<boolean> = (port) =>
    fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false),
): Promise<BuiltService> {
  const port = await freePort();
  const main = join(workspaceRoot, 'dist', 'apps', app, 'apps', app, 'src', 'main.js');
  const child = spawn(process.execPath, [main], {
    cwd: workspaceRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, PORT: String(port), INSTANCE_ID: instanceId, LOG_LEVEL: 'info' },
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${app} exited early:\n${output.join('')}`);
    if (await isReady(port, output.join(''))) return { child, port, output };
    if (Date.now() > deadline) throw new Error(`${app} not ready:\n${output.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
