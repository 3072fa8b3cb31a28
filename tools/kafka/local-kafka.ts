/**
 * A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM) for development
 * and tests, without Docker: the jars come from Maven Central (tools/kafka/pom.xml) and run on the
 * local Java 17+.
 *
 * Lifetime of the broker process (it must never outlive the Node process that started it):
 * - `stop()` sends SIGTERM (Kafka then does a controlled shutdown), SIGKILL after `stopTimeoutMs`.
 * - When the Node process exits normally (end of event loop, `process.exit()`, uncaught
 *   exception), an 'exit' hook sends SIGTERM to the broker.
 * - When the Node process is killed (SIGKILL, or SIGINT/SIGTERM/SIGHUP without a handler), no
 *   JavaScript runs; a tiny `sh` watchdog notices that its stdin pipe from Node closed and
 *   sends SIGTERM, then SIGKILL 15 s later. In both cases it then removes a temporary data dir.
 * - Like any server, a running broker keeps the Node event loop alive until stop().
 * - The broker runs in its own process group, so a terminal Ctrl-C reaches Node only and the
 *   owner decides how to stop it (tools/kafka/cli.ts stops it cleanly). This module installs no
 *   signal handlers of its own: that would change how the host process reacts to signals.
 *
 * Ports: a port that is passed explicitly must be free, otherwise startLocalKafka fails with a
 * clear message; an omitted port is replaced by a free one picked by the OS.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
// Relative on purpose: only the topic list, not the whole platform-kafka library (message bus, ...).
import { ALL_TOPICS, ensureTopics } from '@license-ledger/platform-kafka';
import type { TopicSpec } from '@license-ledger/platform-kafka';
import { startWatchdog } from '../watchdog';

// Topic creation lives in the Kafka library (services, tests and this script share it).
export { ensureTopics } from '@license-ledger/platform-kafka';
export type { EnsureTopicsOptions, EnsureTopicsResult } from '@license-ledger/platform-kafka';

export type Log = (msg: string) => void;

export interface LocalKafkaOptions {
  /** PLAINTEXT listener on 127.0.0.1. Omitted: a free port. Given but busy: startup fails. */
  port?: number;
  /** KRaft controller listener on 127.0.0.1. Omitted: a free port. */
  controllerPort?: number;
  /**
   * Where the broker keeps its metadata, topic data, config and logs. Reused (not reformatted)
   * when it already holds a formatted broker. Omitted: a fresh temporary directory that stop()
   * deletes.
   */
  dataDir?: string;
  /** Topics to create once the broker is up (existing ones are left alone). Default: ALL_TOPICS. */
  topics?: readonly TopicSpec[];
  /** JVM max heap, e.g. '512m'. */
  heap?: string;
  /** How long to wait for the broker to answer. Default 60 s. */
  startTimeoutMs?: number;
  /** How long stop() waits for a controlled shutdown before SIGKILL. Default 20 s. */
  stopTimeoutMs?: number;
  log?: Log;
}

export interface BrokerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LocalKafka {
  /** Bootstrap servers, e.g. ['127.0.0.1:9092']. */
  readonly brokers: string[];
  readonly pid: number;
  readonly dataDir: string;
  /** The broker's log4j log; the JVM's own stdout/stderr are in broker.out next to it. */
  readonly logFile: string;
  /** Settles when the broker process ends, for whatever reason. */
  readonly exited: Promise<BrokerExit>;
  /** Controlled shutdown; idempotent. */
  stop(): Promise<void>;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const POM_FILE = path.join(__dirname, 'pom.xml');
const LOG4J_CONFIG = path.join(__dirname, 'log4j2.xml');
const DEFAULT_START_TIMEOUT_MS = 60_000;
const DEFAULT_STOP_TIMEOUT_MS = 20_000;
const noop: Log = () => undefined;

/** The Kafka version pinned in pom.xml; it names the jar cache directory. */
export function kafkaVersion(): string {
  const pom = fs.readFileSync(POM_FILE, 'utf8');
  const match = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new Error(`No <kafka.version> property in ${POM_FILE}`);
  return match[1];
}

/**
 * Resolves the broker's jars with Maven into .cache/kafka/<version>/libs, once: a marker file
 * holding the pom's hash records a complete download, so a later pom change re-resolves.
 * Concurrent callers are safe (a lock directory serialises them; the jars appear by rename).
 * Returns the directory holding the jars (classpath `<dir>/*`).
 */
export async function ensureKafkaJars(log: Log = noop): Promise<string> {
  const version = kafkaVersion();
  const versionDir = path.join(REPO_ROOT, '.cache', 'kafka', version);
  const libsDir = path.join(versionDir, 'libs');
  const marker = path.join(versionDir, 'libs.complete');
  const pomHash = createHash('sha256').update(fs.readFileSync(POM_FILE)).digest('hex');

  const isComplete = (): boolean =>
    readIfExists(marker)?.trim() === pomHash && fs.existsSync(path.join(libsDir, `kafka_2.13-${version}.jar`));
  if (isComplete()) return libsDir;

  fs.mkdirSync(versionDir, { recursive: true });
  // One resolver at a time (parallel test workers, CLI + tests); the others wait, then reuse.
  const releaseLock = await acquireLock(path.join(versionDir, 'fetch.lock'), log);
  const tmpDir = path.join(versionDir, `libs.tmp-${process.pid}`);
  try {
    if (isComplete()) return libsDir;
    log(`Resolving Kafka ${version} jars from Maven Central into ${libsDir} (first run only)...`);
    const started = Date.now();
    fs.rmSync(tmpDir, { recursive: true, force: true });
    await run('mvn', ['-B', '-q', '-f', POM_FILE, 'dependency:copy-dependencies', `-DoutputDirectory=${tmpDir}`], {
      label: 'mvn dependency:copy-dependencies',
      hint: 'Install Apache Maven 3.8+ (it downloads the Kafka jars from Maven Central).',
    });
    fs.rmSync(libsDir, { recursive: true, force: true }); // stale set from an older pom
    fs.renameSync(tmpDir, libsDir);
    writeFileAtomic(marker, `${pomHash}\n`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log(`Kafka ${version} jars ready (${dirSizeMb(libsDir)} MB in ${seconds} s).`);
    return libsDir;
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    releaseLock();
  }
}

/**
 * Creates the topics that do not exist yet, with the spec's partitions and configs (replication
 * factor: the cluster default). Works against any cluster, so the same definitions are used
 * locally and on an external one.
 */
/** Starts a broker, waits until it answers, creates the topics. See the file comment for lifetime rules. */
export async function startLocalKafka(opts: LocalKafkaOptions = {}): Promise<LocalKafka> {
  const log = opts.log ?? noop;
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const stopTimeoutMs = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;

  const libsDir = await ensureKafkaJars(log);
  const { port, controllerPort } = await choosePorts(opts.port, opts.controllerPort);

  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = path.resolve(opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'license-ledger-kafka-')));
  // Kafka treats every directory inside log.dirs as a partition, so its own files live beside it.
  const metadataDir = path.join(dataDir, 'kraft');
  const logsDir = path.join(dataDir, 'logs');
  const propsFile = path.join(dataDir, 'server.properties');
  const logFile = path.join(logsDir, 'server.log');
  const outFile = path.join(logsDir, 'broker.out');
  fs.mkdirSync(metadataDir, { recursive: true });
  fs.mkdirSync(logsDir, { recursive: true });

  fs.writeFileSync(propsFile, serverProperties({ port, controllerPort, logDir: metadataDir }));
  const java = javaBinary();
  const classpath = path.join(libsDir, '*'); // expanded by java itself, not by a shell
  const jvmLogging = [`-Dlog4j2.configurationFile=${LOG4J_CONFIG}`, `-Dkafka.logs.dir=${logsDir}`];

  if (fs.existsSync(path.join(metadataDir, 'meta.properties'))) {
    log(`Reusing formatted KRaft data in ${metadataDir}`);
  } else {
    await run(
      java,
      [...jvmLogging, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '--cluster-id', randomClusterId(), '--config', propsFile, '--ignore-formatted'],
      { label: 'kafka.tools.StorageTool format', hint: 'Install a Java 17+ runtime or set JAVA_HOME.' },
    );
    log(`Formatted a new KRaft cluster in ${metadataDir}`);
  }

  // Only this run's lines matter when explaining a failed start.
  const logOffset = fileSize(logFile);
  const outFd = fs.openSync(outFile, 'w');
  const started = Date.now();
  let child: ChildProcess;
  try {
    child = spawn(
      java,
      [
        `-Xmx${opts.heap ?? '512m'}`,
        '-Xms128m',
        '-XX:+UseG1GC',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        ...jvmLogging,
        '-cp',
        classpath,
        'kafka.Kafka',
        propsFile,
      ],
      { cwd: dataDir, stdio: ['ignore', outFd, outFd], detached: true },
    );
  } finally {
    fs.closeSync(outFd); // the child has its own copy
  }

  const exited = new Promise<BrokerExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // spawn failures (java missing) emit 'error' and no 'exit'
    child.once('error', (err) => {
      log(`Could not run ${java}: ${err.message}`);
      resolve({ code: null, signal: null });
    });
  });
  let exitInfo: BrokerExit | undefined;
  void exited.then((info) => {
    exitInfo = info;
  });

  const pid = child.pid;
  const watchdog = pid === undefined ? undefined : startWatchdog({ pid, signal: 'TERM', ...(ownsDataDir ? { removeDir: dataDir } : {}) });
  const onParentExit = (): void => {
    if (pid !== undefined && exitInfo === undefined) sendSignal(pid, 'SIGTERM');
  };
  process.on('exit', onParentExit);

  // Kill and wait, without cleanup: a failed start reads the logs before the data dir goes.
  let terminating: Promise<void> | undefined;
  const terminate = (): Promise<void> =>
    (terminating ??= (async () => {
      if (pid !== undefined && exitInfo === undefined) {
        sendSignal(pid, 'SIGTERM');
        if (!(await settlesWithin(exited, stopTimeoutMs))) {
          log(`Kafka broker ${pid} did not stop within ${stopTimeoutMs} ms: killing it`);
          sendSignal(pid, 'SIGKILL');
        }
      }
      await exited;
      process.removeListener('exit', onParentExit);
      watchdog?.release();
    })());
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await terminate();
      if (ownsDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      log('Kafka broker stopped');
    })());
  // If the broker dies by itself, the watchdog has nothing left to guard.
  void exited.then(() => watchdog?.release());

  const brokers = [`127.0.0.1:${port}`];
  // A failed start keeps even a temporary data dir: its logs are the diagnosis.
  const failStart = async (reason: string): Promise<never> => {
    await terminate();
    const tail = [tailSince(logFile, logOffset), tailSince(outFile, 0)].filter((t) => t !== '').join('\n');
    throw new Error(`${reason}\n--- last broker log lines (${logsDir}) ---\n${tail || '(empty)'}`);
  };

  if (pid === undefined) return failStart(`Could not start the Kafka broker with ${java}`);
  log(`Kafka broker starting (pid ${pid}) on ${brokers[0]}, controller 127.0.0.1:${controllerPort}, data ${dataDir}`);

  const deadline = started + startTimeoutMs;
  for (;;) {
    if (exitInfo !== undefined) {
      return failStart(`Kafka broker exited (code ${exitInfo.code}, signal ${exitInfo.signal}) before it was ready`);
    }
    if (await brokerAnswers(brokers)) break;
    if (Date.now() > deadline) return failStart(`Kafka broker did not answer on ${brokers[0]} within ${startTimeoutMs} ms`);
    await delay(250);
  }
  log(`Kafka broker ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  try {
    await ensureTopics(brokers, opts.topics ?? ALL_TOPICS, { log });
  } catch (err) {
    return failStart(`Creating topics failed: ${errorMessage(err)}`);
  }

  return { brokers, pid, dataDir, logFile, exited, stop };
}

function serverProperties(p: { port: number; controllerPort: number; logDir: string }): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // Static single voter: the data dir stays valid if the controller port changes between runs.
    'controller.quorum.voters': `1@127.0.0.1:${p.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${p.port},CONTROLLER://127.0.0.1:${p.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${p.port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'log.dirs': p.logDir,
    // Topics come only from topics.ts: a typo in a topic name must fail, not create a topic.
    'auto.create.topics.enable': false,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    // Internal topics default to replication factor 3, which one node can never satisfy.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Fewer internal partitions: faster first group join / first transaction on a dev machine.
    'offsets.topic.num.partitions': 4,
    'transaction.state.log.num.partitions': 4,
    'group.initial.rebalance.delay.ms': 0,
  };
  const lines = Object.entries(props).map(([k, v]) => `${k}=${String(v)}`);
  return `# Written by tools/kafka/local-kafka.ts on every start; edits are overwritten.\n${lines.join('\n')}\n`;
}

/** Asks the broker for its cluster description once, quietly. */
async function brokerAnswers(brokers: string[]): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'license-ledger-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function choosePorts(port?: number, controllerPort?: number): Promise<{ port: number; controllerPort: number }> {
  if (port !== undefined && port === controllerPort) {
    throw new Error(`The broker port and the controller port must differ (both ${port})`);
  }
  if (port !== undefined) await assertPortFree(port, 'Kafka broker');
  if (controllerPort !== undefined) await assertPortFree(controllerPort, 'Kafka controller');
  // Hold the first free port open while asking for the second so they cannot be the same.
  const holders: net.Server[] = [];
  try {
    const pick = async (): Promise<number> => {
      const server = await listen(0);
      holders.push(server);
      return (server.address() as net.AddressInfo).port;
    };
    const chosenPort = port ?? (await pick());
    const chosenController = controllerPort ?? (await pick());
    return { port: chosenPort, controllerPort: chosenController };
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

/** Runs a command to completion; a failure carries its output, a missing binary a hint. */
function run(cmd: string, args: string[], opts: { label: string; hint: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new Error(`${cmd} not found on PATH. ${opts.hint}`));
      const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
      reject(new Error(`${opts.label} failed (${err.message.split('\n')[0] ?? ''}):\n${output}`));
    });
  });
}

function sendSignal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
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

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

function dirSizeMb(dir: string): string {
  const bytes = fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
  return (bytes / 1024 / 1024).toFixed(1);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True if the promise settles within ms; the timer never outlives the answer. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A directory as an exclusive lock; one older than 10 minutes is left from a killed run and is taken over. */
async function acquireLock(lockDir: string, log: Log): Promise<() => void> {
  let announced = false;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      return () => fs.rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > 10 * 60_000) {
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`Waiting for another process to finish resolving the Kafka jars (${lockDir})...`);
    announced = true;
    await delay(500);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
