/**
 * The restart policy of `npm start`, kept free of processes and clocks so it can be unit tested:
 * callers pass in when each run of a service started and ended, and get back what to do next.
 * It mirrors Docker's restart policy (exponential backoff, reset after a stable run) and adds a
 * give-up rule, because a developer should see a crash loop stop rather than scroll forever.
 */

export interface RestartPolicy {
  /** Delay before the first restart of a streak; doubled for each further quick exit. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A run at least this long counts as healthy: the next exit starts a new streak. */
  readonly stableAfterMs: number;
  /** Give up once this many exits fall within `windowMs`. */
  readonly maxExits: number;
  readonly windowMs: number;
}

export const defaultRestartPolicy: RestartPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
  maxExits: 5,
  windowMs: 120_000,
};

/** One run of a service that ended on its own (not because we stopped it). */
export interface ServiceExit {
  /** Epoch ms when this run was spawned. */
  readonly startedAt: number;
  /** Epoch ms when it exited. */
  readonly at: number;
  /** Human-readable cause, e.g. `exit code 1: database unreachable`. */
  readonly cause: string;
}

export type RestartDecision =
  | { readonly action: 'restart'; readonly delayMs: number }
  | { readonly action: 'give-up'; readonly reason: string };

/** Decides what follows the latest exit in `exits` (oldest first, the latest last). */
export function decideRestart(exits: readonly ServiceExit[], policy: RestartPolicy = defaultRestartPolicy): RestartDecision {
  const latest = exits[exits.length - 1];
  if (latest === undefined) throw new Error('decideRestart needs at least one exit');

  const recent = exits.filter((exit) => exit.at > latest.at - policy.windowMs).length;
  if (recent >= policy.maxExits) {
    return { action: 'give-up', reason: `failed ${recent} times in ${formatDuration(policy.windowMs)} (last: ${latest.cause})` };
  }

  // The streak runs back to (and includes) the most recent exit that followed a healthy run.
  let streak = 0;
  for (let i = exits.length - 1; i >= 0; i--) {
    streak++;
    const exit = exits[i] as ServiceExit;
    if (exit.at - exit.startedAt >= policy.stableAfterMs) break;
  }
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(streak - 1, 30));
  return { action: 'restart', delayMs };
}

/**
 * Drops exits that can no longer change a decision: older than the give-up window and beyond the
 * point where the backoff is capped anyway. Keeps the caller's history bounded in a long session.
 */
export function pruneExits(exits: readonly ServiceExit[], now: number, policy: RestartPolicy = defaultRestartPolicy): ServiceExit[] {
  const doublingsToCap = Math.ceil(Math.log2(policy.maxDelayMs / policy.initialDelayMs)) + 1;
  const keep = Math.max(policy.maxExits, doublingsToCap);
  return exits.filter((exit, index) => exit.at > now - policy.windowMs || index >= exits.length - keep);
}

/** `2 min`, `45 s`, `1.5 s`: short enough for a one-line message. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 10_000) return `${Math.round(ms / 1000)} s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** How a child process ended, in the words of the give-up message. */
export function describeExit(code: number | null, signal: string | null, lastError: string | undefined): string {
  const how = signal !== null ? `signal ${signal}` : `exit code ${code ?? '?'}`;
  return lastError ? `${how}: ${lastError}` : how;
}

export interface OutputLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/** The last few lines a service printed, so a crash report can show why it died. */
export class OutputTail {
  private readonly lines: OutputLine[] = [];

  /** Lines are kept long enough that JSON log lines with stacks still parse; clip them to show. */
  constructor(private readonly capacity = 8, private readonly maxLineLength = 8_000) {}

  push(stream: OutputLine['stream'], text: string): void {
    this.lines.push({ stream, text: clip(text, this.maxLineLength) });
    if (this.lines.length > this.capacity) this.lines.shift();
  }

  recent(): readonly OutputLine[] {
    return [...this.lines];
  }

  clear(): void {
    this.lines.length = 0;
  }
}

export function clip(text: string, maxLength: number): string {
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

/**
 * The line that best explains a crash: the last error-level JSON log line or stderr line, else the
 * last line at all. JSON logs are shortened to `msg: err.message` since the full object is noisy.
 */
export function lastErrorLine(lines: readonly OutputLine[]): string | undefined {
  const parsed = lines.map((line) => ({ line, log: parseLogLine(line.text) }));
  const error = [...parsed].reverse().find(({ line, log }) => (log ? log.isError : line.stream === 'stderr' && line.text.trim() !== ''));
  const chosen = error ?? parsed[parsed.length - 1];
  if (chosen === undefined) return undefined;
  return chosen.log ? chosen.log.summary : chosen.line.text.trim();
}

function parseLogLine(text: string): { isError: boolean; summary: string } | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const record = value as Record<string, unknown>;
    const level = record['level'];
    const isError = level === 'error' || level === 'fatal' || (typeof level === 'number' && level >= 50);
    const msg = typeof record['msg'] === 'string' ? record['msg'] : undefined;
    const err = record['err'];
    const errMessage =
      typeof err === 'object' && err !== null && typeof (err as Record<string, unknown>)['message'] === 'string'
        ? String((err as Record<string, unknown>)['message'])
        : undefined;
    const parts = [msg, errMessage].filter((part): part is string => part !== undefined && part !== '');
    const summary = parts.length === 2 && parts[0]?.includes(parts[1] ?? '') ? parts[0] : parts.join(': ');
    return { isError, summary: summary || text };
  } catch {
    return undefined;
  }
}
