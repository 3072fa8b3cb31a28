/**
 * What kafkajs says, made readable: it logs every retry of an expected, self-healing condition
 * (a broker restarting, a coordinator loading, a leader moving) at error level, hundreds of lines
 * a second during an outage, which drowns real errors. Those become one warning per kind per
 * window with a count of the repeats; real errors pass through as errors.
 */
export type ClientLogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface ClientLogLine {
  readonly level: ClientLogLevel;
  readonly text: string;
  /** Repeats of this kind left out since the last line of it. */
  readonly suppressed: number;
}

/** Conditions the client retries by itself: worth one line, not one per attempt. */
const EXPECTED = [
  /connection (error|timeout)/i,
  /closed connection/i,
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT/,
  /failed to connect to seed broker/i,
  /no broker available/i,
  /restarting the consumer/i,
  /coordinator (is loading|is not available)/i,
  /not the (leader|coordinator)/i,
  /leader not available/i,
  /another concurrent operation/i,
  /group is rebalancing/i,
  /number of retries exceeded|NumberOfRetriesExceeded/i,
  /^Response [A-Za-z]+\(key: \d+, version: \d+\)$/,
];

/**
 * Not worth a line at all: kafkajs's notice about our deliberate retry settings, and its own retry
 * of a transaction step refused while the previous transaction's markers are still being written
 * (back-to-back transactions; the lease's own retry covers the rest).
 */
const NOISE = [/limiting retries for the idempotent producer/i, /another concurrent operation on the same transaction/i];

export class ClientLogFilter {
  private readonly lastEmitted = new Map<string, { atMs: number; suppressed: number }>();

  constructor(private readonly windowMs = 10_000) {}

  /** The line to log for a client message, or undefined to leave it out (counted for later). */
  filter(level: ClientLogLevel, message: string, nowMs: number): ClientLogLine | undefined {
    if (NOISE.some((pattern) => pattern.test(message))) return { level: 'debug', text: message, suppressed: 0 };
    if (level !== 'error' && level !== 'warn') return { level, text: message, suppressed: 0 };
    if (!EXPECTED.some((pattern) => pattern.test(message))) return { level, text: message, suppressed: 0 };
    // One kind per wording, numbers aside (ports, delays, attempt counts differ between repeats).
    const kind = message.replace(/\d+(\.\d+)?/g, '#');
    const last = this.lastEmitted.get(kind);
    if (last && nowMs - last.atMs < this.windowMs) {
      last.suppressed++;
      return undefined;
    }
    const suppressed = last?.suppressed ?? 0;
    this.lastEmitted.set(kind, { atMs: nowMs, suppressed: 0 });
    if (this.lastEmitted.size > 500) this.lastEmitted.clear(); // bounded: wordings are few in practice
    return { level: 'warn', text: message, suppressed };
  }
}
