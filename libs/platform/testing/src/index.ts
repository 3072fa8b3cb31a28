/**
 * Helpers for integration tests against the real broker and database that `npm test` provides.
 * Test code only: no service imports this library.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { ensureTopics, KafkaJsMessageBus, ReceivedMessage } from '@license-ledger/platform-kafka';

export interface IntegrationEnv {
  readonly brokers: string[];
  readonly databaseUrl: string;
}

/** The broker and database of this test run; a clear error when a test is run outside `npm test`. */
export function integrationEnv(): IntegrationEnv {
  const brokers = process.env['KAFKA_BROKERS'];
  const databaseUrl = process.env['DATABASE_URL'];
  if (!brokers || !databaseUrl) {
    throw new Error('KAFKA_BROKERS and DATABASE_URL must be set: run `npm test`, which starts a broker and a database');
  }
  return { brokers: brokers.split(',').map((b) => b.trim()), databaseUrl };
}

export const silentLogger = {
  error: (): void => undefined,
  warn: (): void => undefined,
  info: (): void => undefined,
  debug: (): void => undefined,
};

/** One line a logger was given. */
export interface LogLine {
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/** A logger that keeps every line but debug ones in `lines`, for a test to look for events in. */
export function capturingLogger(lines: LogLine[]): Record<'error' | 'warn' | 'info' | 'debug', (fields: object, message: string) => void> {
  const keep = (fields: object, message: string): void => void lines.push({ fields: fields as Record<string, unknown>, message });
  return { error: keep, warn: keep, info: keep, debug: () => undefined };
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Creates topics named `<prefix>.<unique>.<suffix>` for one test, so tests never share state, and
 * returns their names by suffix once every partition has a leader.
 */
export async function createTestTopics<Suffix extends string>(
  brokers: readonly string[],
  prefix: string,
  suffixes: readonly Suffix[],
  partitions: number,
): Promise<Record<Suffix, string>> {
  const unique = randomUUID().slice(0, 8);
  const names = Object.fromEntries(suffixes.map((suffix) => [suffix, `${prefix}.${unique}.${suffix}`])) as Record<Suffix, string>;
  await ensureTopics(
    brokers,
    suffixes.map((suffix) => ({ name: names[suffix], partitions, config: {} })),
  );
  return names;
}

/** Every record of a topic up to its current end (read-committed), in partition and offset order. */
export async function readTopic(brokers: readonly string[], topic: string): Promise<ReceivedMessage[]> {
  const bus = new KafkaJsMessageBus({ clientId: `test-reader-${randomUUID().slice(0, 8)}`, brokers, logger: silentLogger });
  const read: ReceivedMessage[] = [];
  try {
    await bus.readRanges({ topic, ranges: await bus.partitionRanges(topic), onMessages: async (messages) => void read.push(...messages) });
  } finally {
    await bus.close();
  }
  return read.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

/**
 * Thrown by an `eventually` probe (or through its `fail` argument) when waiting longer cannot help:
 * `eventually` rethrows it at once instead of polling on until its timeout.
 */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `probe` until it returns a value (not undefined), or fails naming `what`. A probe that
 * throws is retried (the broker or the database may still be starting), and its last error is part
 * of the timeout's message. A probe that knows the wait is hopeless calls `fail(reason)` (or throws
 * `GiveUp`), which fails at once.
 */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: (fail: (reason: string) => never) => Promise<T | undefined>,
  intervalMs = 100,
): Promise<T> {
  const fail = (reason: string): never => {
    throw new GiveUp(`gave up waiting for ${what}: ${reason}`);
  };
  const started = Date.now();
  let lastError: { readonly error: unknown; readonly attempt: number } | undefined;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const value = await probe(fail);
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = { error, attempt: attempts };
    }
    if (Date.now() - started > timeoutMs) {
      const error = lastError?.error;
      const last = lastError === undefined ? '' : `; the probe last threw at attempt ${lastError.attempt}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      throw new Error(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
