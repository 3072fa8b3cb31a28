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

/** Polls `probe` until it returns a value, or fails naming `what`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
