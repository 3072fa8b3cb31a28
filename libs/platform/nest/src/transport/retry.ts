/** First and longest wait between attempts to connect a reader or start an engine. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 5_000 };

/** The wait after `failures` failed attempts: doubling from initialMs up to maxMs. */
export function backoffDelay(backoff: Backoff, failures: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));
}

/** Waits `ms`, or less when `signal` aborts; true when the whole wait passed. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(!signal.aborted);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface RetryLogger {
  warn(fields: object, message: string): void;
}

/**
 * Runs `attempt` until it succeeds or `signal` aborts, waiting with backoff between failures and
 * logging each one; true when it succeeded.
 */
export async function keepTrying(what: string, fields: object, attempt: () => Promise<void>, options: { signal: AbortSignal; backoff: Backoff; logger: RetryLogger }): Promise<boolean> {
  for (let failures = 1; !options.signal.aborted; failures++) {
    try {
      await attempt();
      return true;
    } catch (error) {
      if (options.signal.aborted) return false;
      const delay = backoffDelay(options.backoff, failures);
      options.logger.warn({ ...fields, event: 'bus_start_failed', attempt: failures, retry_in_ms: delay, err: error }, `cannot start ${what} yet; retrying`);
      if (!(await pause(delay, options.signal))) return false;
    }
  }
  return false;
}
