/**
 * The broker's jars: Apache Kafka from Maven Central (tools/kafka/pom.xml), resolved once per
 * version into .cache/kafka/<version>/libs and shared by every local node.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

type Log = (msg: string) => void;
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const POM_FILE = path.join(__dirname, 'pom.xml');
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

/** Runs a command to completion; a failure carries its output, a missing binary a hint. */
export function run(cmd: string, args: string[], opts: { label: string; hint: string }): Promise<string> {
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
