import { randomUUID } from 'node:crypto';
import { AssignerProtocol, Consumer, IHeaders, Kafka, KafkaMessage, PartitionAssigner } from 'kafkajs';
import { BatchRunner, BatchRunLogger, Poison } from './batch-runner';
import type { AssignOptions, ReaderOptions, ReaderState, ReceivedMessage, SubscribeOptions, Subscription, TopicPartition } from './message-bus';

/** The least a stock broker allows (group.min.session.timeout.ms): six heartbeats, 1 s apart. */
export const SESSION_TIMEOUT_MS = 6_000;

export function toHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

export function toReceived(topic: string, partition: number, message: KafkaMessage): ReceivedMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    timestampMs: Number(message.timestamp),
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value ?? Buffer.alloc(0),
    headers: toHeaders(message.headers),
  };
}

/** What a reader needs from the bus that runs it. */
export interface ReaderHost {
  readonly kafka: Kafka;
  readonly logger: BatchRunLogger;
  readonly retryBackoffMs: { readonly initial: number; readonly max: number } | undefined;
  /** Keeps the consumer on the bus's list, so closing the bus disconnects it. */
  track(consumer: Consumer): void;
  untrack(consumer: Consumer): void;
  /** Writes a batch's dead letters (retrying through `runner`); false when the batch was given up. */
  writeDeadLetters(runner: BatchRunner, topic: string, group: string, poison: readonly Poison[]): Promise<boolean>;
  deleteGroup(groupId: string): Promise<void>;
}

/** How a group subscription and an assignment differ; the batch handling is the same. */
interface ReaderMode {
  /** The kafkajs group: the subscription's own, or a throw-away one for an assignment. */
  readonly groupId: string;
  /** The `group` of log lines and dead letters. */
  readonly label: string;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  readonly commit: 'after-handler' | 'none';
  readonly partitionsInParallel: number;
  readonly assigner?: PartitionAssigner;
  /** Called at every join with what the group gave this member. */
  joined(consumer: Consumer, assigned: readonly TopicPartition[]): void;
  /** The records of a fetched batch to hand over (an assignment skips what it handed over already). */
  select(partition: number, messages: readonly KafkaMessage[]): readonly KafkaMessage[];
  /** The batch up to `offset` is done. */
  handled(partition: number, offset: string): void;
  seek(consumer: Consumer, topic: string, partition: number, offset: string): void;
  /** After the consumer left: an assignment deletes its throw-away group. */
  cleanUp(): Promise<void>;
}

/** A consumer group subscription (SubscribeOptions). */
export function subscribeGroup(host: ReaderHost, options: SubscribeOptions): Promise<Subscription> {
  // Seeks asked for while kafkajs restarts the consumer (it throws then): applied at the rejoin.
  const pendingSeeks = new Map<string, { topic: string; partition: number; offset: string }>();
  return startReader(host, options, {
    groupId: options.groupId,
    label: options.groupId,
    topics: options.topics,
    fromBeginning: options.fromBeginning,
    commit: options.commit ?? 'after-handler',
    partitionsInParallel: options.partitionsInParallel ?? 1,
    joined: (consumer, assigned) => {
      options.onAssignment?.(assigned);
      for (const seek of pendingSeeks.values()) {
        if (assigned.some((a) => a.topic === seek.topic && a.partition === seek.partition)) consumer.seek(seek);
      }
      pendingSeeks.clear();
    },
    select: (_partition, messages) => messages,
    handled: () => undefined,
    seek: (consumer, topic, partition, offset) => {
      try {
        consumer.seek({ topic, partition, offset });
      } catch {
        pendingSeeks.set(`${topic}:${partition}`, { topic, partition, offset });
      }
    },
    cleanUp: async () => undefined,
  });
}

/**
 * Reads chosen partitions of one topic for this instance alone. kafkajs fetches only through a
 * group, so the reader has a throw-away one whose only member is given exactly these partitions,
 * which never commits and is deleted when the reader stops; every (re)join seeks to the next record
 * to hand over, so nothing is skipped or handed over twice across reconnections.
 */
export function assignPartitions(host: ReaderHost, options: AssignOptions, ends: ReadonlyMap<number, string>): Promise<Subscription> {
  const { topic } = options;
  const next = new Map<number, bigint>();
  for (const { partition, from } of options.partitions) {
    const start = from === 'end' ? ends.get(partition) : from;
    if (start === undefined) throw new Error(`${topic} has no partition ${partition}`);
    next.set(partition, BigInt(start));
  }
  const groupId = `${options.name}.assigned.${randomUUID()}`;
  return startReader(host, options, {
    groupId,
    label: options.name,
    topics: [topic],
    fromBeginning: false,
    commit: 'none',
    partitionsInParallel: next.size,
    assigner: onlyPartitions(topic, [...next.keys()]),
    joined: (consumer) => {
      for (const [partition, offset] of next) consumer.seek({ topic, partition, offset: String(offset) });
    },
    // The first fetch may start before the seek lands: only records from the next one on.
    select: (partition, messages) => messages.filter((m) => BigInt(m.offset) >= (next.get(partition) ?? 0n)),
    handled: (partition, offset) => void next.set(partition, BigInt(offset) + 1n),
    seek: (consumer, seekTopic, partition, offset) => {
      if (seekTopic !== topic || !next.has(partition)) return;
      next.set(partition, BigInt(offset));
      try {
        consumer.seek({ topic, partition, offset });
      } catch {
        // Not running right now: the next join seeks there.
      }
    },
    cleanUp: () => host.deleteGroup(groupId),
  });
}

/** An assigner that gives the group's member exactly `partitions` of `topic` (the group is the reader's alone). */
function onlyPartitions(topic: string, partitions: readonly number[]): PartitionAssigner {
  const name = 'LicenseLedgerAssigned';
  return () => ({
    name,
    version: 0,
    assign: async ({ members }) =>
      members.map(({ memberId }, index) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: index === 0 ? { [topic]: [...partitions] } : {}, userData: Buffer.alloc(0) }),
      })),
    protocol: ({ topics }) => ({ name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }),
  });
}

class ReaderAbortedError extends Error {
  override readonly name = 'ReaderAbortedError';
}

async function startReader(host: ReaderHost, options: ReaderOptions, mode: ReaderMode): Promise<Subscription> {
  if (options.signal?.aborted) throw new ReaderAbortedError(`reader ${mode.label} stopped before it started`);
  const consumer = host.kafka.consumer({
    groupId: mode.groupId,
    // After a broker restart the group's old member ids are dead (kafkajs rejoins under a new
    // one) and the coordinator waits out their sessions before it assigns anything: this bounds
    // how long a consumer stays unassigned after an outage, and how fast a dead member is replaced.
    sessionTimeout: SESSION_TIMEOUT_MS,
    heartbeatInterval: 1_000,
    rebalanceTimeout: 10_000,
    maxWaitTimeInMs: options.maxWaitMs ?? 500,
    ...(mode.assigner ? { partitionAssigners: [mode.assigner] } : {}),
    ...(options.minBytes === undefined ? {} : { minBytes: options.minBytes }),
    ...(options.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: options.maxBytesPerPartition }),
    ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
  });
  host.track(consumer);
  let generation = 0;
  let state: ReaderState = { kind: 'joining' };
  const setState = (next: ReaderState): void => {
    if (state.kind === 'stopped') return;
    state = next;
    options.onState?.(next);
  };
  let joined: () => void = () => undefined;
  let failed: (error: unknown) => void = () => undefined;
  const firstJoin = new Promise<void>((resolve, reject) => {
    joined = resolve;
    failed = reject;
  });
  // It may fail while the consumer still connects, before anything awaits it: not unhandled.
  firstJoin.catch(() => undefined);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    generation += 1;
    const assigned = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })));
    mode.joined(consumer, assigned);
    setState({ kind: 'reading' });
    joined();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    setState(payload.restart ? { kind: 'restarting', error: payload.error } : { kind: 'failed', error: payload.error });
    if (!payload.restart) failed(payload.error);
  });
  let stopping: Promise<void> | undefined;
  /** consumer.run() while it starts: a stop during the start waits for it, so nothing of kafkajs runs on after stop() resolved. */
  let starting: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      setState({ kind: 'stopped' });
      // kafkajs waits for the batches being handled before it leaves the group.
      await consumer.disconnect().catch(() => undefined);
      if (starting) {
        // Bounded: a start that never settles must not hold a shutdown.
        await Promise.race([starting.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        await consumer.disconnect().catch(() => undefined);
      }
      host.untrack(consumer);
      await mode.cleanUp().catch(() => undefined);
    })();
    return stopping;
  };
  const abort = (): void => {
    failed(new ReaderAbortedError(`reader ${mode.label} stopped before it held its partitions`));
    void stop();
  };
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...mode.topics], fromBeginning: mode.fromBeginning });
    starting = consumer.run({
      autoCommit: mode.commit === 'after-handler',
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: mode.partitionsInParallel,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const batchGeneration = generation;
        const isCurrent = (): boolean => isRunning() && !isStale() && generation === batchGeneration;
        const selected = mode.select(batch.partition, batch.messages).map((m) => toReceived(batch.topic, batch.partition, m));
        if (selected.length > 0) {
          const runner = new BatchRunner({
            attempts: options.deadLetter ? (options.deadLetter.attempts ?? 3) : undefined,
            active: isCurrent,
            heartbeat,
            logger: host.logger,
            fields: { group: mode.label, topic: batch.topic, partition: batch.partition },
            ...(host.retryBackoffMs ? { initialBackoffMs: host.retryBackoffMs.initial, maxBackoffMs: host.retryBackoffMs.max } : {}),
            handle: (messages, reportPoison) =>
              options.onMessages(messages, {
                topic: batch.topic,
                partition: batch.partition,
                isCurrent,
                deadLetter: (message, reason) => {
                  if (!options.deadLetter) throw new Error(`reader ${mode.label} has no dead-letter topic`);
                  reportPoison(message, reason);
                },
              }),
          });
          const poison = await runner.run(selected);
          // Given up (stop, rebalance, seek): nothing is resolved, so the batch comes again.
          if (!poison) return;
          if (poison.length > 0 && options.deadLetter) {
            if (!(await host.writeDeadLetters(runner, options.deadLetter.topic, mode.label, poison))) return;
          }
        }
        const last = batch.messages[batch.messages.length - 1];
        if (last) {
          resolveOffset(last.offset);
          mode.handled(batch.partition, last.offset);
        }
        if (mode.commit === 'after-handler') await commitOffsetsIfNecessary();
        await heartbeat();
      },
    });
    await starting;
    await firstJoin;
  } catch (error) {
    await stop();
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
  return {
    seek: (topic, partition, offset) => mode.seek(consumer, topic, partition, offset),
    state: () => state,
    probe: async () => {
      await consumer.describeGroup();
    },
    stop,
  };
}
