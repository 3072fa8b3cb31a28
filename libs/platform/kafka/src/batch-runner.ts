import { errorReason } from './dead-letter';
import { ReceivedMessage } from './message-bus';
import { isTransientError } from './transient-errors';

/** A record the handler could not process: it is copied to the dead-letter topic and skipped. */
export interface Poison {
  readonly message: ReceivedMessage;
  readonly reason: string;
}

export interface BatchRunLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface BatchRunOptions {
  /** Processes the records; may report some as poison instead of throwing for them. */
  readonly handle: (messages: readonly ReceivedMessage[], reportPoison: (message: ReceivedMessage, reason: string) => void) => Promise<void>;
  /**
   * Tries of a record that fails alone (not transiently) before it is dead-lettered. Undefined:
   * dead-lettering is off and every failure is retried until it succeeds or the batch is abandoned.
   */
  readonly attempts: number | undefined;
  /** False once the batch must be given up (stop, rebalance, seek): it will be delivered again. */
  readonly active: () => boolean;
  /** Keeps the consumer in its group while retrying; throws when a rebalance is under way. */
  readonly heartbeat: () => Promise<void>;
  readonly logger: BatchRunLogger;
  /** Fields every log line of this batch carries (topic, partition, group). */
  readonly fields: object;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How often to heartbeat while the handler runs (default 1 s, the readers' heartbeat interval). */
  readonly heartbeatWhileHandlingMs?: number;
}

type Outcome = { readonly ok: true; readonly poison: readonly Poison[] } | { readonly ok: false; readonly error: unknown } | 'abandoned';

const DEFAULT_INITIAL_BACKOFF_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 5_000;
/** Longest a backoff sleeps without checking for stop and heartbeating. */
const PAUSE_SLICE_MS = 250;
const DEFAULT_HEARTBEAT_WHILE_HANDLING_MS = 1_000;

/**
 * Runs one partition batch through its handler so that no record can wedge the partition:
 * transient failures are retried with exponential backoff as long as it takes (nothing skipped);
 * other failures are retried a few times, then the batch is bisected until the failing records are
 * alone, and those are returned as poison while every other record is processed in order.
 */
export class BatchRunner {
  constructor(private readonly options: BatchRunOptions) {}

  /** The records to dead-letter once the batch is done, or undefined when it was abandoned. */
  async run(messages: readonly ReceivedMessage[]): Promise<readonly Poison[] | undefined> {
    const poison: Poison[] = [];
    return (await this.deliver(messages, this.options.attempts ?? Infinity, poison)) ? poison : undefined;
  }

  /**
   * Retries `work` until it succeeds, backing off; gives up only when the batch is abandoned.
   * For side effects that must not be skipped, such as writing the dead letters themselves.
   */
  async retryUntilDone(what: string, work: () => Promise<void>): Promise<boolean> {
    const outcome = await this.attempt(Infinity, what, [], async () => work());
    return outcome !== 'abandoned';
  }

  private async deliver(messages: readonly ReceivedMessage[], attempts: number, poison: Poison[]): Promise<boolean> {
    const outcome = await this.attempt(attempts, 'records', messages, (report) => this.options.handle(messages, report));
    if (outcome === 'abandoned') return false;
    if (outcome.ok) {
      poison.push(...outcome.poison);
      return true;
    }
    const [only] = messages;
    if (messages.length === 1 && only) {
      poison.push({ message: only, reason: errorReason(outcome.error) });
      return true;
    }
    // The batch failed as a whole: halve it until the failing records stand alone. A multi-record
    // part gets one try (its records were tried already); a single record gets the full retries.
    const middle = Math.ceil(messages.length / 2);
    for (const part of [messages.slice(0, middle), messages.slice(middle)]) {
      if (!(await this.deliver(part, part.length === 1 ? (this.options.attempts ?? Infinity) : 1, poison))) return false;
    }
    return true;
  }

  private async attempt(
    attempts: number,
    what: string,
    messages: readonly ReceivedMessage[],
    work: (report: (message: ReceivedMessage, reason: string) => void) => Promise<void>,
  ): Promise<Outcome> {
    const { active, logger } = this.options;
    let failures = 0;
    let delay = this.options.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      if (!active()) return 'abandoned';
      // Reports of a failed try are dropped: the retry (or the split) reports them again.
      const reported: Poison[] = [];
      try {
        await this.heartbeating(() => work((message, reason) => reported.push({ message, reason })));
        return { ok: true, poison: reported };
      } catch (error) {
        if (!active()) return 'abandoned';
        const transient = isTransientError(error);
        if (!transient && ++failures >= attempts) return { ok: false, error };
        const fields = {
          ...this.options.fields,
          event: transient ? 'consume_retry_transient' : 'consume_retry',
          what,
          records: messages.length,
          first_offset: messages[0]?.offset,
          last_offset: messages[messages.length - 1]?.offset,
          attempt,
          retry_in_ms: delay,
          err: error,
        };
        if (transient) logger.warn(fields, 'transient failure; retrying');
        else logger.error(fields, 'processing failed; retrying');
        if (!(await this.pause(delay))) return 'abandoned';
        delay = Math.min(delay * 2, this.options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * Runs `work` while heartbeating now and then: a big batch (the telemetry sink's take many seconds
   * under load) must not outlast the group's session timeout and be handed to another member
   * mid-way. A heartbeat refused for a rebalance marks the batch stale; the work's end sees that.
   */
  private async heartbeating(work: () => Promise<void>): Promise<void> {
    const timer = setInterval(() => void this.options.heartbeat().catch(() => undefined), this.options.heartbeatWhileHandlingMs ?? DEFAULT_HEARTBEAT_WHILE_HANDLING_MS);
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
  }

  /** Sleeps in slices, heartbeating; false as soon as the batch is no longer ours. */
  private async pause(ms: number): Promise<boolean> {
    for (let left = ms; left > 0; left -= PAUSE_SLICE_MS) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, PAUSE_SLICE_MS)));
      if (!this.options.active()) return false;
      // A rebalance makes this throw: the batch is given up so kafkajs can rejoin the group.
      await this.options.heartbeat();
    }
    return this.options.active();
  }
}
