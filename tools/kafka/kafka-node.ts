/**
 * One Kafka JVM (a KRaft node: broker and controller) of a local cluster: spawned on its own data
 * directory, guarded so it never outlives the Node process that started it (see local-kafka.ts),
 * and stoppable, killable and startable again on the same data.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startWatchdog } from '../watchdog';

export interface BrokerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeLayout {
  readonly id: number;
  /** PLAINTEXT listener on 127.0.0.1. */
  readonly port: number;
  readonly controllerPort: number;
  /** Holds server.properties, kraft/ (metadata and topic data) and logs/. */
  readonly dir: string;
}

export interface NodeRuntime {
  readonly java: string;
  readonly classpath: string;
  readonly heap: string;
  readonly jvmLogging: (logsDir: string) => string[];
  /** Removed by the watchdog if we die (a throw-away directory). */
  readonly removeDirOnCrash?: string;
  readonly log: (line: string) => void;
}

export const nodePaths = (dir: string) => ({
  // Kafka treats every directory inside log.dirs as a partition, so its own files live beside it.
  metadataDir: path.join(dir, 'kraft'),
  logsDir: path.join(dir, 'logs'),
  propsFile: path.join(dir, 'server.properties'),
  logFile: path.join(dir, 'logs', 'server.log'),
  outFile: path.join(dir, 'logs', 'broker.out'),
});

/** A running (or ended) JVM of one node. */
export class NodeProcess {
  readonly exited: Promise<BrokerExit>;
  /** Where this run's lines start in the log (a failed start shows only those). */
  readonly logOffset: number;
  private exitInfo: BrokerExit | undefined;
  private terminating: Promise<void> | undefined;
  private readonly child: ChildProcess;
  private readonly release: () => void;
  private readonly onParentExit: () => void;

  constructor(readonly layout: NodeLayout, runtime: NodeRuntime) {
    const paths = nodePaths(layout.dir);
    this.logOffset = fileSize(paths.logFile);
    const outFd = fs.openSync(paths.outFile, 'a');
    try {
      this.child = spawn(
        runtime.java,
        [
          `-Xmx${runtime.heap}`,
          '-Xms128m',
          '-XX:+UseG1GC',
          '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          ...runtime.jvmLogging(paths.logsDir),
          '-cp',
          runtime.classpath,
          'kafka.Kafka',
          paths.propsFile,
        ],
        // Its own process group: a terminal's Ctrl-C reaches Node only, which stops it cleanly.
        { cwd: layout.dir, stdio: ['ignore', outFd, outFd], detached: true },
      );
    } finally {
      fs.closeSync(outFd); // the child has its own copy
    }
    this.exited = new Promise<BrokerExit>((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      // spawn failures (java missing) emit 'error' and no 'exit'
      this.child.once('error', (err) => {
        runtime.log(`Could not run ${runtime.java}: ${err.message}`);
        resolve({ code: null, signal: null });
      });
    });
    void this.exited.then((info) => (this.exitInfo = info));
    const pid = this.child.pid;
    const watchdog = pid === undefined ? undefined : startWatchdog({ pid, signal: 'TERM', ...(runtime.removeDirOnCrash ? { removeDir: runtime.removeDirOnCrash } : {}) });
    this.release = () => watchdog?.release();
    this.onParentExit = () => {
      if (pid !== undefined && this.exitInfo === undefined) sendSignal(pid, 'SIGTERM');
    };
    process.on('exit', this.onParentExit);
    // If the JVM dies by itself, there is nothing left to guard.
    void this.exited.then(() => {
      process.removeListener('exit', this.onParentExit);
      this.release();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.pid !== undefined && this.exitInfo === undefined;
  }

  /** SIGTERM (controlled shutdown), SIGKILL after `timeoutMs`; resolves once the JVM is gone. Idempotent. */
  terminate(timeoutMs: number, log: (line: string) => void): Promise<void> {
    return (this.terminating ??= (async () => {
      const pid = this.child.pid;
      if (pid !== undefined && this.exitInfo === undefined) {
        sendSignal(pid, 'SIGTERM');
        if (!(await settlesWithin(this.exited, timeoutMs))) {
          log(`Kafka node ${this.layout.id} (pid ${pid}) did not stop within ${timeoutMs} ms: killing it`);
          sendSignal(pid, 'SIGKILL');
        }
      }
      await this.exited;
    })());
  }

  /** Sends `signal` (SIGKILL: as a crashed machine) and resolves when the JVM is gone. */
  async kill(signal: NodeJS.Signals): Promise<BrokerExit> {
    const pid = this.child.pid;
    if (pid !== undefined && this.exitInfo === undefined) sendSignal(pid, signal);
    return this.exited;
  }
}

function sendSignal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** True if the promise settles within ms; the timer never outlives the answer. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
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
