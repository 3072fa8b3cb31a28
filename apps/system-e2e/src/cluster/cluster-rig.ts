/**
 * A local three-node Kafka cluster for the cluster suite, started through the project's own CLI
 * (`tools/kafka/cli.ts start --brokers 3 --control`, as a developer would) and driven through the
 * CLI's control lines on stdin: `kill <id>` is a kill -9 of that node's JVM, `start <id>` brings
 * it back on its data. Closing the CLI (or its dying) stops every node.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { eventually } from '@license-ledger/platform-testing';
import { quietAdmin, type ObservedPartition } from '@license-ledger/platform-kafka';
import { ownInfrastructureEnv } from '../faults/rig';
import { workspaceRoot } from '../support/built-service';

const tsx = require.resolve('tsx/cli');

export class ClusterRig {
  private output = '';
  private seen = 0;

  private constructor(
    private readonly cli: ChildProcess,
    readonly brokers: readonly string[],
  ) {}

  static async start(dataDir: string): Promise<ClusterRig> {
    const args = [tsx, 'tools/kafka/cli.ts', 'start', '--brokers', '3', '--port', '0', '--data-dir', dataDir, '--fresh', '--control'];
    const cli = spawn(process.execPath, args, { cwd: workspaceRoot, stdio: ['pipe', 'pipe', 'pipe'], env: ownInfrastructureEnv() });
    let output = '';
    const collect = (chunk: Buffer): void => void (output += chunk.toString('utf8'));
    cli.stdout?.on('data', collect);
    cli.stderr?.on('data', collect);
    const brokers = await eventually('the three-node cluster to start', 180_000, async (fail) => {
      if (cli.exitCode !== null) fail(`the CLI exited with ${cli.exitCode}:\n${output}`);
      const line = /^KAFKA_BROKERS=(.+)$/m.exec(output)?.[1];
      return line && output.includes('Press Ctrl-C to stop.') ? line.trim().split(',') : undefined;
    }, 250);
    const rig = new ClusterRig(cli, brokers);
    cli.stdout?.removeListener('data', collect);
    cli.stderr?.removeListener('data', collect);
    rig.output = output;
    const keep = (chunk: Buffer): void => void (rig.output = (rig.output + chunk.toString('utf8')).slice(-200_000));
    cli.stdout?.on('data', keep);
    cli.stderr?.on('data', keep);
    rig.seen = output.length;
    return rig;
  }

  get log(): string {
    return this.output;
  }

  /** Partition leaders, replicas and in-sync replicas of `topic`, as the cluster reports them now. */
  async partitions(topic: string): Promise<ObservedPartition[]> {
    const admin = quietAdmin(this.brokers, 'cluster-rig');
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return (topics[0]?.partitions ?? []).map((p) => ({ partitionId: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr })).sort((a, b) => a.partitionId - b.partitionId);
    } finally {
      await admin.disconnect();
    }
  }

  /** kill -9 of one node's JVM; resolves once it is gone. */
  async kill(node: number): Promise<void> {
    await this.command(`kill ${node}`, `node ${node} killed`, 20_000);
  }

  /** Starts the node again on its data; resolves once the cluster lists it as a broker. */
  async restart(node: number): Promise<void> {
    await this.command(`start ${node}`, `node ${node} started`, 120_000);
  }

  private async command(line: string, answer: string, timeoutMs: number): Promise<void> {
    const from = this.seen;
    this.cli.stdin?.write(`${line}\n`);
    await eventually(`the cluster CLI to answer "${line}"`, timeoutMs, async (fail) => {
      const since = this.output.slice(from);
      if (this.cli.exitCode !== null) fail(`the CLI exited with ${this.cli.exitCode}`);
      const error = /control: error: .*/.exec(since)?.[0];
      if (error) fail(error);
      return since.includes(`control: ${answer}`) ? true : undefined;
    });
    this.seen = this.output.length;
  }

  /** Stops every node cleanly (the CLI's SIGINT path) and waits for the CLI to end. */
  async stop(): Promise<void> {
    if (this.cli.exitCode !== null || this.cli.signalCode !== null) return;
    const exited = new Promise((resolve) => this.cli.once('exit', resolve));
    this.cli.kill('SIGINT');
    await exited;
  }
}
