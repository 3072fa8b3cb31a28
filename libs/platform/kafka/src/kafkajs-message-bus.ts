import { randomUUID } from 'node:crypto';
import {
  Admin,
  Consumer,
  Kafka,
  logLevel as KafkaLogLevel,
  LogEntry,
  Message,
  Partitioners,
  Producer,
} from 'kafkajs';
import {
  AssignOptions,
  ConsumedOffset,
  MessageBus,
  OutgoingMessage,
  PartitionedMessage,
  PartitionRange,
  ProducerFencedError,
  TransactionOutcomeUnknownError,
  ReadRangesOptions,
  SubscribeOptions,
  Subscription,
  TopicMessages,
  Transaction,
  TransactionalPublisher,
  WrittenBatch,
} from './message-bus';
import { BatchRunner, Poison } from './batch-runner';
import { ClientLogFilter, type ClientLogLevel } from './client-log';
import { deadLetteredRecord, deadLetterMessage, DeadLetteredRecord } from './dead-letter';
import { isTransientError } from './transient-errors';
import { assertKafkajsPatched } from './kafkajs-patch';
import { anyBrokerAnswers } from './lean/broker-probe';
import { LeanReadRefusedError, readRangesLean } from './lean/lean-range-reader';
import { assignPartitions, ReaderHost, SESSION_TIMEOUT_MS, subscribeGroup, toReceived } from './kafkajs-readers';

export interface KafkaBusLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface KafkaBusOptions {
  readonly clientId: string;
  readonly brokers: readonly string[];
  readonly logger: KafkaBusLogger;
  /** How long a request may take before the client gives up; also bounds ping(). */
  readonly requestTimeoutMs?: number;
  /** Called once per record a subscription dead-lettered (after it was written): metrics. */
  readonly onDeadLetter?: (record: DeadLetteredRecord) => void;
  /** First and longest wait between retries of a failing batch (default 100 ms and 5 s). */
  readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  /**
   * How readRanges reads. 'lean' (default): our own Fetch client (lean/lean-range-reader.ts),
   * several times faster than kafkajs and without a consumer group; it hands whatever it does not
   * read (snappy, lz4 or zstd batches, a broker without its request versions) over to kafkajs,
   * which reads on from there. 'kafkajs': kafkajs alone.
   */
  readonly rangeReader?: 'lean' | 'kafkajs';
  /** How long the lean reader waits for a partition's leader (elections, a broker away) before a bounded read fails (default 60 s). */
  readonly leaderPatienceMs?: number;
}

/** MessageBus over kafkajs: an idempotent producer, consumer groups and an admin client. */
export class KafkaJsMessageBus implements MessageBus {
  private readonly kafka: Kafka;
  private producer: Producer;
  private readonly admin: Admin;
  private readonly consumers = new Set<Consumer>();
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: KafkaBusOptions) {
    assertKafkajsPatched();
    const log = options.logger;
    const clientLog = new ClientLogFilter();
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      connectionTimeout: 3_000,
      retry: { retries: 5, initialRetryTime: 100 },
      logLevel: KafkaLogLevel.WARN,
      logCreator:
        () =>
        ({ level, log: entry }: LogEntry) => {
          const { message, ...fields } = entry;
          // kafkajs puts the broker's answer of a failed request in `error`, not in the message.
          const error = typeof fields['error'] === 'string' ? ` ${fields['error']}` : '';
          const line = clientLog.filter(clientLevel(level), `${String(message)}${error}`, Date.now());
          if (line === undefined) return;
          const text = `kafka: ${line.text}`;
          const logged = line.suppressed > 0 ? { ...fields, suppressed_repeats: line.suppressed } : fields;
          log[line.level](logged, text);
        },
    });
    this.producer = this.newProducer();
    this.admin = this.kafka.admin();
  }

  /** Idempotent; a failed attempt is forgotten so the next call tries again. */
  connect(): Promise<void> {
    this.connecting ??= Promise.all([this.producer.connect(), this.admin.connect()]).then(
      () => undefined,
      (error: unknown) => {
        this.connecting = undefined;
        throw error;
      },
    );
    return this.connecting;
  }

  /** Idempotence makes the broker drop a retried duplicate, so a retry never doubles a message. */
  private newProducer(): Producer {
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.connect();
    const record = { topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ? { ...m.headers } : undefined })) };
    const producer = this.producer;
    try {
      await producer.send(record);
    } catch (error) {
      if (!hasLostProducerState(error)) throw error;
      // After a broker crash the broker's idea of this producer's sequence can differ from the
      // client's for good (kafkajs never resets it): every later send would fail. A new producer id
      // starts clean. Its one retry is at-least-once; every consumer of ours is idempotent by key.
      this.options.logger.warn({ event: 'producer_reset', err: error }, 'the broker lost this producer\'s sequence; starting a new producer');
      if (this.producer === producer) {
        this.producer = this.newProducer();
        this.connecting = undefined;
        void producer.disconnect().catch(() => undefined);
      }
      await this.connect();
      await this.producer.send(record);
    }
  }

  subscribe(options: SubscribeOptions): Promise<Subscription> {
    return subscribeGroup(this.readerHost, options);
  }

  async assign(options: AssignOptions): Promise<Subscription> {
    const ends = options.partitions.some((p) => p.from === 'end') ? await this.partitionRanges(options.topic) : [];
    return assignPartitions(this.readerHost, options, new Map(ends.map((range) => [range.partition, range.end])));
  }

  /** The producers' own partitioner, so the answer is where a keyed send lands. */
  async partitionOf(topic: string, key: string): Promise<number> {
    await this.connect();
    const [metadata] = (await this.admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const partitions = metadata?.partitions ?? [];
    if (partitions.length === 0) throw new Error(`topic ${topic} has no partitions`);
    return Partitioners.DefaultPartitioner()({ topic, partitionMetadata: partitions, message: { key, value: null } });
  }

  /** What the subscriptions and assignments (kafkajs-readers.ts) use of this bus. */
  private get readerHost(): ReaderHost {
    return {
      kafka: this.kafka,
      logger: this.options.logger,
      retryBackoffMs: this.options.retryBackoffMs,
      track: (consumer) => void this.consumers.add(consumer),
      untrack: (consumer) => void this.consumers.delete(consumer),
      writeDeadLetters: (runner, topic, group, poison) => this.writeDeadLetters(runner, topic, group, poison),
      deleteGroup: async (groupId) => {
        await this.admin.deleteGroups([groupId]);
      },
    };
  }

  /**
   * Writes the dead letters before the offsets move past them (at least once: a crash in between
   * writes them again). Retried until written, never dropped: false only if the batch was given up.
   */
  private async writeDeadLetters(runner: BatchRunner, topic: string, group: string, poison: readonly Poison[]): Promise<boolean> {
    const failedAt = new Date();
    const written = await runner.retryUntilDone('dead letters', () =>
      this.publish(topic, poison.map(({ message, reason }) => deadLetterMessage(message, group, reason, failedAt))),
    );
    if (!written) return false;
    for (const { message, reason } of poison) {
      const record = deadLetteredRecord(message, group, reason);
      this.options.logger.error({ event: 'dead_lettered', ...record, dead_letter_topic: topic }, 'record dead-lettered and skipped');
      this.options.onDeadLetter?.(record);
    }
    return true;
  }

  /**
   * A broker lost under a claim (its transaction coordinator still listed until the cluster fences
   * it, ~6-9 s) fails the first attempt with a connection error; the same attempt seconds later
   * reaches the new coordinator. So transient failures are retried for a while, each with a fresh
   * producer (a failed one is closed, not leaked).
   */
  async transactionalPublisher(transactionalId: string): Promise<TransactionalPublisher> {
    const deadline = Date.now() + TRANSACTIONAL_CONNECT_PATIENCE_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.openTransactionalPublisher(transactionalId);
      } catch (error) {
        if (error instanceof ProducerFencedError || !isTransientError(error) || Date.now() > deadline) throw error;
        const waitMs = Math.min(100 * 2 ** (attempt - 1), 2_000);
        this.options.logger.warn({ event: 'transactional_connect_retry', transactional_id: transactionalId, attempt, retry_in_ms: waitMs, err: error }, 'kafka: transactional producer not ready; retrying');
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  private async openTransactionalPublisher(transactionalId: string): Promise<TransactionalPublisher> {
    const producer = this.kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 30_000,
      // Right after a commit the coordinator is still writing the previous transaction's markers
      // and answers the next AddPartitionsToTxn with CONCURRENT_TRANSACTIONS for a few ms. kafkajs
      // would back off 300 ms (measured: p50 249 ms per back-to-back transaction); the Java client
      // also retries this quickly.
      retry: { initialRetryTime: 5, maxRetryTime: 1_000, retries: 30 },
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    try {
      await producer.connect();
      // kafkajs runs InitProducerId lazily, at the first transaction. Run it now, so that creating
      // the publisher is what fences: the broker bumps the epoch for this id, aborts the open
      // transaction of any older producer and refuses that producer's further writes.
      const opening = await producer.transaction();
      await opening.abort();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw isFencing(error) ? new ProducerFencedError(transactionalId, error) : error;
    }
    return new KafkaJsTransactionalPublisher(transactionalId, producer);
  }

  async partitionRanges(topic: string, sinceMs?: number): Promise<PartitionRange[]> {
    await this.connect();
    // The admin client lists offsets read-committed: `high` is the last stable offset. It does not
    // retry a leader that moved or is still being elected (a new topic, a broker failover): we do,
    // with fresh metadata, for a few seconds.
    const { offsets, since } = await retryWhileLeadersMove(async () => ({
      offsets: await this.admin.fetchTopicOffsets(topic),
      since: sinceMs === undefined ? undefined : await this.admin.fetchTopicOffsetsByTimestamp(topic, sinceMs),
    }), () => this.admin.fetchTopicMetadata({ topics: [topic] }).then(() => undefined, () => undefined));
    return offsets
      .map(({ partition, low, high }) => ({
        partition,
        start: since?.find((s) => s.partition === partition)?.offset ?? low,
        end: high,
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  async readRanges(options: ReadRangesOptions): Promise<void> {
    if (this.options.rangeReader === 'kafkajs') return this.readRangesWithKafkaJs(options);
    const { clientId, brokers, requestTimeoutMs, leaderPatienceMs } = this.options;
    try {
      await readRangesLean(
        {
          clientId,
          brokers,
          ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs: Math.max(requestTimeoutMs, 5_000) }),
          ...(leaderPatienceMs === undefined ? {} : { leaderPatienceMs }),
        },
        options,
      );
    } catch (error) {
      if (!(error instanceof LeanReadRefusedError)) throw error;
      this.options.logger.info({ event: 'read_ranges_fallback', topic: options.topic, reason: error.message }, 'kafka: the lean reader stops here; kafkajs reads on');
      await this.readRangesWithKafkaJs({ ...options, ranges: error.remaining });
    }
  }

  private async readRangesWithKafkaJs(options: ReadRangesOptions): Promise<void> {
    const { topic } = options;
    const ranges = new Map(options.ranges.map((r) => [r.partition, { start: BigInt(r.start), end: BigInt(r.end) }]));
    // Next offset to hand over, per partition: a rejoin of the read's group (the coordinator moved
    // with a broker) seeks here, not back to the start, and nothing is ever handed over twice.
    const delivered = new Map([...ranges].map(([partition, range]) => [partition, range.start]));
    const pending = new Set([...ranges].filter(([, r]) => r.start < r.end).map(([partition]) => partition));
    if (pending.size === 0) return;
    if (options.signal?.aborted) throw new Error(`read of ${topic} aborted`);
    // kafkajs only consumes through a group: a throw-away one that never commits.
    const groupId = `${this.options.clientId}.read.${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 200, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: 1_000 });
    this.consumers.add(consumer);
    let finished: () => void = () => undefined;
    let failed: (error: unknown) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      finished = resolve;
      failed = reject;
    });
    // It may fail while the consumer still connects, before anything awaits it: not unhandled.
    done.catch(() => undefined);
    const advance = (partition: number, lastOffset: string): void => {
      const range = ranges.get(partition);
      if (!range) return;
      const next = BigInt(lastOffset) + 1n;
      options.onPosition?.(partition, String(next < range.end ? next : range.end));
      if (next >= range.end && pending.delete(partition) && pending.size === 0) finished();
    };
    // Batches of only transaction markers or aborted records never reach eachBatch; this event
    // reports them too, so a partition whose log ends with a marker still completes.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic) advance(payload.partition, payload.lastOffset);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => failed(payload.error));
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [partition, next] of delivered) consumer.seek({ topic, partition, offset: String(next) });
    });
    const abort = (): void => {
      pending.clear();
      failed(new Error(`read of ${topic} aborted`));
    };
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat }) => {
          const range = ranges.get(batch.partition);
          if (!range || !pending.has(batch.partition)) return;
          // The first fetch may start before the seek lands, and a rejoin may fetch again what was
          // handed over already: only records past the last one handed over and inside the range.
          const from = delivered.get(batch.partition) ?? range.start;
          const inRange = batch.messages.filter((m) => BigInt(m.offset) >= from && BigInt(m.offset) < range.end);
          try {
            if (inRange.length > 0) {
              await options.onMessages(inRange.map((m) => toReceived(batch.topic, batch.partition, m)));
              delivered.set(batch.partition, BigInt((inRange[inRange.length - 1] as { offset: string }).offset) + 1n);
            }
          } catch (error) {
            // The caller's error ends the read (kafkajs would retry the batch and restart forever).
            pending.clear();
            failed(error);
            return;
          }
          await heartbeat();
        },
      });
      await done;
    } finally {
      options.signal?.removeEventListener('abort', abort);
      this.consumers.delete(consumer);
      await consumer.disconnect().catch(() => undefined);
      await this.admin.deleteGroups([groupId]).catch(() => undefined);
    }
  }

  async ping(): Promise<void> {
    await this.connect();
    try {
      await this.admin.describeCluster();
    } catch (error) {
      // kafkajs may keep asking the broker it last talked to: with one broker of several gone the
      // cluster still serves, so it is reachable when any broker it was given answers.
      const { brokers, clientId, requestTimeoutMs } = this.options;
      if (!(await anyBrokerAnswers(brokers, `${clientId}-ping`, Math.min(requestTimeoutMs ?? 5_000, 5_000)))) throw error;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((c) => c.disconnect()));
    this.consumers.clear();
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
    this.connecting = undefined;
  }
}

/** How long a claim keeps trying to open its transactional producer through a broker failover. */
const TRANSACTIONAL_CONNECT_PATIENCE_MS = 20_000;

const FENCING_ERRORS = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

function isFencing(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = (current as Error & { originalError?: unknown }).originalError ?? current.cause) {
    const type = (current as Error & { type?: unknown }).type;
    if (typeof type === 'string' && FENCING_ERRORS.has(type)) return true;
    if (/fenced|INVALID_PRODUCER_EPOCH/i.test(current.message)) return true;
  }
  return false;
}

function toKafkaJsMessage(m: PartitionedMessage): Message {
  return {
    key: m.key,
    value: m.tombstone === true ? null : m.value,
    headers: m.headers ? { ...m.headers } : undefined,
    ...(m.partition === undefined ? {} : { partition: m.partition }),
  };
}

class KafkaJsTransactionalPublisher implements TransactionalPublisher {
  constructor(
    private readonly transactionalId: string,
    private readonly producer: Producer,
  ) {}

  async inTransaction<T>(work: (transaction: Transaction) => Promise<T>): Promise<T> {
    let kafkaTransaction;
    try {
      kafkaTransaction = await this.producer.transaction();
    } catch (error) {
      throw isFencing(error) ? new ProducerFencedError(this.transactionalId, error) : error;
    }
    const active = kafkaTransaction;
    const transaction: Transaction = {
      send: (topic: string, messages: readonly PartitionedMessage[]) => transaction.sendAll([{ topic, messages }]),
      sendAll: async (batches: readonly TopicMessages[]): Promise<readonly WrittenBatch[]> => {
        const topicMessages = batches.filter((b) => b.messages.length > 0).map(({ topic, messages }) => ({ topic, messages: messages.map(toKafkaJsMessage) }));
        if (topicMessages.length === 0) return [];
        const metadata = await active.sendBatch({ acks: -1, topicMessages });
        return metadata.map((m) => ({ topic: m.topicName, partition: m.partition, baseOffset: m.baseOffset ?? m.offset ?? '-1' }));
      },
      commitConsumerOffsets: async (groupId: string, offsets: readonly ConsumedOffset[]): Promise<void> => {
        const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
        for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
        await active.sendOffsets({
          consumerGroupId: groupId,
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        });
      },
    };
    try {
      const result = await work(transaction);
      await active.commit();
      return result;
    } catch (error) {
      if (isFencing(error)) throw new ProducerFencedError(this.transactionalId, error);
      try {
        await active.abort();
      } catch (abortError) {
        // Not known to be aborted: what the work sent may still be committed (by a retried commit,
        // or by running more work in the same open transaction). Only fencing this transactional
        // id settles it, so the caller must not run the work again on this producer.
        throw new TransactionOutcomeUnknownError(this.transactionalId, error, abortError);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Errors after which an idempotent producer can never send again (its sequence state is gone). */
function hasLostProducerState(error: unknown): boolean {
  const lost = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);
  for (let cause: unknown = error, depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    if (typeof cause !== 'object') return false;
    const type = (cause as { type?: unknown }).type;
    if (typeof type === 'string' && lost.has(type)) return true;
    cause = (cause as { cause?: unknown; originalError?: unknown }).originalError ?? (cause as { cause?: unknown }).cause;
  }
  return false;
}

function clientLevel(level: KafkaLogLevel): ClientLogLevel {
  if (level === KafkaLogLevel.ERROR) return 'error';
  if (level === KafkaLogLevel.WARN) return 'warn';
  if (level === KafkaLogLevel.INFO) return 'info';
  return 'debug';
}

/** Broker answers meaning "ask again after a metadata refresh": the partition's leader is elsewhere or not elected yet. */
const LEADER_MOVING = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION', 'NOT_LEADER_OR_FOLLOWER']);

async function retryWhileLeadersMove<T>(work: () => Promise<T>, refresh: () => Promise<void>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const type = (error as { type?: unknown }).type;
      if (attempt >= 10 || typeof type !== 'string' || !LEADER_MOVING.has(type)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 1_000)));
      await refresh();
    }
  }
}
