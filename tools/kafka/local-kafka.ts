/**
 * A real Apache Kafka for development and tests, without Docker: one KRaft node (broker and
 * controller in one JVM) by default, or a cluster of several such nodes (`brokers: 3`) that elect
 * their controller among themselves. The jars come from Maven Central (tools/kafka/pom.xml) and
 * run on the local Java 17+.
 *
 * Lifetime of the JVMs (they must never outlive the Node process that started them):
 * - `stop()` sends SIGTERM (Kafka then does a controlled shutdown), SIGKILL after `stopTimeoutMs`.
 * - When the Node process exits normally (end of event loop, `process.exit()`, uncaught
 *   exception), an 'exit' hook sends SIGTERM to every node.
 * - When the Node process is killed (SIGKILL, or SIGINT/SIGTERM/SIGHUP without a handler), no
 *   JavaScript runs; a tiny `sh` watchdog per node notices that its stdin pipe from Node closed and
 *   sends SIGTERM, then SIGKILL 15 s later. In both cases it then removes a temporary data dir.
 * - Like any server, a running node keeps the Node event loop alive until stop().
 * - Each node runs in its own process group, so a terminal Ctrl-C reaches Node only and the
 *   owner decides how to stop it (tools/kafka/cli.ts stops it cleanly). This module installs no
 *   signal handlers of its own: that would change how the host process reacts to signals.
 *
 * Ports: a port that is passed explicitly must be free, otherwise startLocalKafka fails with a
 * clear message; an omitted port is replaced by a free one picked by the OS. With several nodes
 * an explicit `port` is the first node's, the others take the ports after it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics } from '@license-ledger/platform-kafka';
import type { TopicSpec } from '@license-ledger/platform-kafka';
import { ensureKafkaJars, run } from './jars';
import { BrokerExit, NodeLayout, nodePaths, NodeProcess, NodeRuntime } from './kafka-node';
import { serverProperties } from './server-properties';

// Topic creation lives in the Kafka library (services, tests and this script share it).
export { ensureTopics } from '@license-ledger/platform-kafka';
export type { EnsureTopicsOptions, EnsureTopicsResult } from '@license-ledger/platform-kafka';
export { ensureKafkaJars, kafkaVersion } from './jars';
export type { BrokerExit } from './kafka-node';

export type Log = (msg: string) => void;

export interface LocalKafkaOptions {
  /** How many KRaft nodes (each a broker and a controller). Default 1. */
  brokers?: number;
  /** PLAINTEXT listener on 127.0.0.1 (the first node's). Omitted: free ports. Given but busy: startup fails. */
  port?: number;
  /** KRaft controller listener of a single node. Omitted (and always with several nodes): a free port. */
  controllerPort?: number;
  /**
   * Where the nodes keep their metadata, topic data, config and logs (several nodes: one
   * `node-<id>` directory each). Reused (not reformatted) when it already holds formatted nodes.
   * Omitted: a fresh temporary directory that stop() deletes.
   */
  dataDir?: string;
  /**
   * Topics to create once the cluster is up (existing ones are left alone). Default: the project's
   * topics, replicated as KAFKA_REPLICATION_FACTOR etc. say or as the cluster size suggests.
   */
  topics?: readonly TopicSpec[];
  /** JVM max heap per node, e.g. '512m'. Default 512m for one node, 256m each for several. */
  heap?: string;
  /** How long to wait for the cluster to answer. Default 60 s (+30 s per extra node). */
  startTimeoutMs?: number;
  /** How long stop() waits for a controlled shutdown before SIGKILL. Default 20 s. */
  stopTimeoutMs?: number;
  log?: Log;
}

export interface LocalKafkaNode {
  /** KRaft node id (1, 2, 3 …), as in metadata (partition leaders, replicas). */
  readonly id: number;
  /** This node's bootstrap address, e.g. '127.0.0.1:9092'. */
  readonly broker: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The running JVM's pid; undefined while the node is down. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends `signal` to the JVM (default SIGKILL: no shutdown, no flush) and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<BrokerExit>;
  /** Starts the node again on its data and waits until the cluster lists it as a broker. */
  start(): Promise<void>;
}

export interface LocalKafka {
  /** Bootstrap servers, e.g. ['127.0.0.1:9092'] (every node's). */
  readonly brokers: string[];
  readonly nodes: readonly LocalKafkaNode[];
  /** The first node's pid at start. */
  readonly pid: number;
  readonly dataDir: string;
  /** The first node's log4j log; the JVM's own stdout/stderr are in broker.out next to it. */
  readonly logFile: string;
  /** Settles when no node runs any more, for whatever reason other than stop(). */
  readonly exited: Promise<BrokerExit>;
  /** Controlled shutdown of every node; idempotent. */
  stop(): Promise<void>;
}

const LOG4J_CONFIG = path.join(__dirname, 'log4j2.xml');
const DEFAULT_START_TIMEOUT_MS = 60_000;
const DEFAULT_STOP_TIMEOUT_MS = 20_000;
const noop: Log = () => undefined;

/** Starts the nodes, waits until every one is a broker of the cluster, creates the topics. */
export async function startLocalKafka(opts: LocalKafkaOptions = {}): Promise<LocalKafka> {
  const log = opts.log ?? noop;
  const count = opts.brokers ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new Error(`brokers: ${count} is not a node count from 1 to 9`);
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS + 30_000 * (count - 1);
  const stopTimeoutMs = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;

  const libsDir = await ensureKafkaJars(log);
  const wanted = Array.from({ length: count }, (_, i) => [
    { port: opts.port === undefined ? undefined : opts.port + i, what: `Kafka broker ${i + 1}` },
    { port: count === 1 ? opts.controllerPort : undefined, what: `Kafka controller ${i + 1}` },
  ]).flat();
  const ports = await choosePorts(wanted);

  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = path.resolve(opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'license-ledger-kafka-')));
  // One node keeps the layout it always had (data dir = node dir), so existing .data/kafka stays valid.
  const layouts: NodeLayout[] = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    port: ports[2 * i] as number,
    controllerPort: ports[2 * i + 1] as number,
    dir: count === 1 ? dataDir : path.join(dataDir, `node-${i + 1}`),
  }));
  const voters = layouts.map((l) => `${l.id}@127.0.0.1:${l.controllerPort}`).join(',');

  const java = javaBinary();
  const runtime: NodeRuntime = {
    java,
    classpath: path.join(libsDir, '*'), // expanded by java itself, not by a shell
    heap: opts.heap ?? (count === 1 ? '512m' : '256m'),
    jvmLogging: (logsDir) => [`-Dlog4j2.configurationFile=${LOG4J_CONFIG}`, `-Dkafka.logs.dir=${logsDir}`],
    ...(ownsDataDir ? { removeDirOnCrash: dataDir } : {}),
    log,
  };

  // All nodes of a cluster carry the same cluster id: an already formatted node's, or a new one.
  const clusterId = layouts.map((l) => formattedClusterId(l.dir)).find((id) => id !== undefined) ?? randomClusterId();
  for (const layout of layouts) {
    const paths = nodePaths(layout.dir);
    fs.mkdirSync(paths.metadataDir, { recursive: true });
    fs.mkdirSync(paths.logsDir, { recursive: true });
    fs.writeFileSync(paths.propsFile, serverProperties({ ...layout, voters, logDir: paths.metadataDir, clusterSize: count }));
    if (formattedClusterId(layout.dir) !== undefined) {
      log(`Reusing formatted KRaft data in ${paths.metadataDir}`);
      continue;
    }
    await run(
      java,
      [...runtime.jvmLogging(paths.logsDir), '-cp', runtime.classpath, 'kafka.tools.StorageTool', 'format', '--cluster-id', clusterId, '--config', paths.propsFile, '--ignore-formatted'],
      { label: 'kafka.tools.StorageTool format', hint: 'Install a Java 17+ runtime or set JAVA_HOME.' },
    );
    log(`Formatted KRaft node ${layout.id} in ${paths.metadataDir}`);
  }

  const processes = new Map<number, NodeProcess>();
  let stopping = false;
  let resolveAllDown: (exit: BrokerExit) => void = () => undefined;
  const allDown = new Promise<BrokerExit>((resolve) => (resolveAllDown = resolve));
  const brokers = layouts.map((l) => `127.0.0.1:${l.port}`);

  const launch = (layout: NodeLayout): NodeProcess => {
    const proc = new NodeProcess(layout, runtime);
    processes.set(layout.id, proc);
    void proc.exited.then((exit) => {
      if (stopping) return;
      log(`Kafka node ${layout.id} exited (code ${exit.code}, signal ${exit.signal})`);
      if ([...processes.values()].every((p) => !p.running)) resolveAllDown(exit);
    });
    return proc;
  };
  const terminateAll = (): Promise<void> => Promise.all([...processes.values()].map((p) => p.terminate(stopTimeoutMs, log))).then(() => undefined);

  // A failed start keeps even a temporary data dir: its logs are the diagnosis.
  // The node that failed comes first: a long report is cut in the middle by CI, not at its start.
  const failStart = async (reason: string, offsets: Map<number, number>, failedId?: number): Promise<never> => {
    stopping = true;
    await terminateAll();
    const ordered = [...layouts].sort((a, b) => Number(b.id === failedId) - Number(a.id === failedId));
    const tails = ordered.map((l) => {
      const paths = nodePaths(l.dir);
      const tail = [tailSince(paths.logFile, offsets.get(l.id) ?? 0), tailSince(paths.outFile, 0)].filter((t) => t !== '').join('\n');
      return `--- last log lines of node ${l.id} (${paths.logsDir}) ---\n${tail || '(empty)'}`;
    });
    throw new Error(`${reason}\n${tails.join('\n')}`);
  };

  const started = Date.now();
  const offsets = new Map<number, number>();
  for (const layout of layouts) {
    const proc = launch(layout);
    offsets.set(layout.id, proc.logOffset);
    if (proc.pid === undefined) return failStart(`Could not start Kafka node ${layout.id} with ${java}`, offsets, layout.id);
    log(`Kafka node ${layout.id} starting (pid ${proc.pid}) on 127.0.0.1:${layout.port}, controller 127.0.0.1:${layout.controllerPort}, data ${layout.dir}`);
  }

  const everyId = layouts.map((l) => l.id);
  const deadline = started + startTimeoutMs;
  for (;;) {
    const dead = [...processes.values()].find((p) => !p.running);
    if (dead) return failStart(`Kafka node ${dead.layout.id} exited before the cluster was ready`, offsets, dead.layout.id);
    if (await registered(brokers, everyId)) break;
    if (Date.now() > deadline) return failStart(`Kafka did not list all ${count} broker(s) on ${brokers.join(',')} within ${startTimeoutMs} ms`, offsets);
    await delay(250);
  }
  log(`Kafka ready (${count} node${count === 1 ? '' : 's'}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  try {
    await ensureTopics(brokers, opts.topics, { log });
  } catch (err) {
    return failStart(`Creating topics failed: ${errorMessage(err)}`, offsets);
  }

  const nodes: LocalKafkaNode[] = layouts.map((layout) => {
    const paths = nodePaths(layout.dir);
    const current = (): NodeProcess => processes.get(layout.id) as NodeProcess;
    return {
      id: layout.id,
      broker: `127.0.0.1:${layout.port}`,
      dataDir: layout.dir,
      logFile: paths.logFile,
      get pid() {
        return current().running ? current().pid : undefined;
      },
      get running() {
        return current().running;
      },
      kill: (signal: NodeJS.Signals = 'SIGKILL') => current().kill(signal),
      start: async () => {
        if (current().running) throw new Error(`Kafka node ${layout.id} is running already`);
        const proc = launch(layout);
        const restartedAt = Date.now();
        for (;;) {
          if (!proc.running) throw new Error(`Kafka node ${layout.id} exited while starting again (see ${paths.logFile})`);
          if (await registered(brokers, [layout.id])) return;
          if (Date.now() - restartedAt > startTimeoutMs) throw new Error(`Kafka node ${layout.id} did not rejoin within ${startTimeoutMs} ms`);
          await delay(250);
        }
      },
    };
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      await terminateAll();
      if (ownsDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      log('Kafka stopped');
    })());

  const firstPid = processes.get(1)?.pid as number;
  return { brokers, nodes, pid: firstPid, dataDir, logFile: nodePaths(layouts[0]?.dir ?? dataDir).logFile, exited: allDown, stop };
}

/** True when the cluster (asked through any of `brokers`) lists every one of `ids` as a broker. */
async function registered(brokers: string[], ids: readonly number[]): Promise<boolean> {
  const kafka = new Kafka({ clientId: 'license-ledger-probe', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 3000, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const listed = new Set((await admin.describeCluster()).brokers.map((b) => b.nodeId));
    return ids.every((id) => listed.has(id));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The cluster id a formatted node carries (kraft/meta.properties), or undefined if unformatted. */
function formattedClusterId(dir: string): string | undefined {
  try {
    const meta = fs.readFileSync(path.join(nodePaths(dir).metadataDir, 'meta.properties'), 'utf8');
    return /^cluster\.id=(.+)$/m.exec(meta)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** Explicit ports must be free; the rest are picked by the OS, all distinct. */
async function choosePorts(wanted: ReadonlyArray<{ port: number | undefined; what: string }>): Promise<number[]> {
  const explicit = wanted.map((w) => w.port).filter((p): p is number => p !== undefined);
  if (new Set(explicit).size !== explicit.length) throw new Error(`The Kafka ports must differ (${explicit.join(', ')})`);
  for (const w of wanted) if (w.port !== undefined) await assertPortFree(w.port, w.what);
  // Hold each picked port open while picking the next so none is chosen twice.
  const holders: net.Server[] = [];
  try {
    const chosen: number[] = [];
    for (const w of wanted) {
      if (w.port !== undefined) {
        chosen.push(w.port);
        continue;
      }
      let port: number;
      do {
        const server = await listen(0);
        holders.push(server);
        port = (server.address() as net.AddressInfo).port;
      } while (explicit.includes(port));
      chosen.push(port);
    }
    return chosen;
  } finally {
    await Promise.all(holders.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

async function assertPortFree(port: number, what: string): Promise<void> {
  try {
    const server = await listen(port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(
        `${what} port 127.0.0.1:${port} is already in use (another Kafka still running?). ` +
          'Stop whatever listens there, choose another port, or set KAFKA_BROKERS to use a running cluster.',
      );
    }
    throw err;
  }
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

/** Kafka's own format: 16 random bytes, URL-safe base64 without padding, not starting with '-'. */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function javaBinary(): string {
  const home = process.env['JAVA_HOME'];
  if (home) {
    const candidate = path.join(home, 'bin', 'java');
    if (fs.existsSync(candidate)) return candidate;
  }
  return 'java';
}

function tailSince(file: string, offset: number, maxLines = 40): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const start = Math.max(offset, size - 64 * 1024);
      const buf = Buffer.alloc(Math.max(0, size - start));
      fs.readSync(fd, buf, 0, buf.length, start);
      const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
      return lines.slice(-maxLines).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
