/**
 * Keeps a server we start (the local Kafka broker, the embedded PostgreSQL) from outliving us.
 * Both run in their own process group, so a terminal's Ctrl-C reaches only our process, which
 * stops the services first and the servers last. If we die instead (kill -9, a crash), a detached
 * `sh` holding a pipe from us sees EOF without "done" and stops the server itself, then removes a
 * throw-away data directory.
 */
import { spawn } from 'node:child_process';

export interface WatchdogOptions {
  readonly pid: number;
  /** The server's own "stop now, cleanly" signal: TERM for Kafka, INT (fast shutdown) for PostgreSQL. */
  readonly signal: 'TERM' | 'INT';
  /** Removed after the server has stopped (only for a directory we created). */
  readonly removeDir?: string;
}

export interface Watchdog {
  /** We stopped the server ourselves: the watchdog exits without touching it. */
  release(): void;
}

export function startWatchdog(options: WatchdogOptions): Watchdog {
  const script = [
    "trap '' INT HUP",
    'IFS= read -r line',
    '[ "$line" = done ] && exit 0',
    'kill -"$3" "$1" 2>/dev/null || exit 0',
    'i=0',
    'while kill -0 "$1" 2>/dev/null; do',
    '  i=$((i+1))',
    '  if [ "$i" -ge 150 ]; then kill -KILL "$1" 2>/dev/null; sleep 0.5; break; fi',
    '  sleep 0.1',
    'done',
    '[ -n "$2" ] && rm -rf -- "$2"',
    'exit 0',
  ].join('\n');
  const dog = spawn('sh', ['-c', script, 'watchdog', String(options.pid), options.removeDir ?? '', options.signal], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  dog.on('error', () => undefined); // no sh: nothing to report, the server's own stop still works
  dog.stdin?.on('error', () => undefined);
  let released = false;
  return {
    release(): void {
      if (released) return;
      released = true;
      dog.stdin?.end('done\n');
    },
  };
}
