import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { BatchContext, ReceivedMessage, Topics } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MetricsRegistry, PLATFORM_OPTIONS, type PlatformOptions, type SharedRoute } from '@license-ledger/platform-nest';
import { parseTelemetryLazy } from '@license-ledger/metrics-usage';
import { handlePoolErrors } from '@license-ledger/platform-database';
import { Pool } from 'pg';
import { Counter } from 'prom-client';
import { PositionedReport, SessionCache, TelemetryStore } from './telemetry-store';

/** Partition batches stored at once; each holds one pooled connection while it is stored. */
const PARTITIONS_IN_PARALLEL = 3;
/** Messages parsed between two turns of the event loop (~1-2 ms of work). */
const PARSE_SLICE = 50;

export interface TelemetryOptions {
  readonly consumerGroup: string;
  /** Topic to consume (default Topics.telemetry.name; tests use their own). */
  readonly topic?: string;
  /** Where records that cannot be stored go (default Topics.deadLetters.name; tests use their own). */
  readonly deadLetterTopic?: string;
}

/**
 * Where a batch came from: its partition's session cache is used only while the batch is current.
 * `generation` counts the reader's assignments (BusContext): a newer one means a rebalance happened.
 */
type BatchSource = Pick<BatchContext, 'topic' | 'partition' | 'isCurrent' | 'deadLetter'> & { readonly generation?: number };

/**
 * How the sink reads telemetry (TelemetryController): one consumer group shared by every metrics
 * replica, a few partitions at once, big batches, and records it cannot store dead-lettered.
 */
export function telemetryRoute(options: TelemetryOptions): SharedRoute {
  return {
    kind: 'shared',
    topic: options.topic ?? Topics.telemetry.name,
    groupId: options.consumerGroup,
    fromBeginning: true,
    partitionsInParallel: PARTITIONS_IN_PARALLEL,
    // Big batches: each session row, commit and roll-up is written once per batch, so the work per
    // report (ours and the database's) falls with the records per batch. Fetches are sized in bytes:
    // 12 MiB holds ~12,000 version 3 records (~950 bytes, most of it the nested request), as many as
    // 8 MiB held of version 2 (~660 bytes). kafkajs joins a response's chunks once, when complete.
    // The bus heartbeats while a batch is handled (BatchRunner), so a big batch under load keeps its member.
    maxBytesPerPartition: 12 * 1024 * 1024,
    maxBytes: 36 * 1024 * 1024,
    deadLetter: { topic: options.deadLetterTopic ?? Topics.deadLetters.name },
    readiness: 'telemetry',
  };
}

/**
 * The telemetry sink: consumes the telemetry topic as one consumer group shared by every metrics
 * replica, validates each record strictly (malformed ones are counted and dead-lettered) and
 * stores each partition batch in one transaction before its offsets are committed. A crash between
 * the two re-delivers the batch, which the store recognises by (session id, nonce). A batch the
 * database refuses for good (nothing valid should be: validation admits only what the tables hold,
 * and roll-up sums are numeric) is split by the bus until the record at fault is alone, and that
 * record is dead-lettered; an unreachable database is waited out.
 *
 * Each assigned partition has a cache of its sessions' last stored state (records are keyed by session
 * id, so a partition's owner is the only regular writer of its sessions). Every rebalance drops all
 * of them: after a handover the database is read again, and the store checks each cached state
 * against it when writing anyway.
 */
@Injectable()
export class TelemetryConsumer implements OnApplicationShutdown {
  private readonly received: Counter<'topic'>;
  private readonly rejected: Counter;
  private readonly stored: Counter;
  private readonly duplicates: Counter;
  private readonly restarts: Counter;
  private readonly fallbacks: Counter<'reason'>;
  private readonly store: TelemetryStore;
  private readonly pool: Pool;
  /** Per `topic:partition`; replaced (never mutated) on a rebalance, so late writers fill a detached map. */
  private caches = new Map<string, SessionCache>();
  /** The reader's assignment the caches belong to. */
  private generation = 0;

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: MetricsRegistry,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
  ) {
    const registers = [metrics.registry];
    this.received = new Counter({ name: 'telemetry_messages_received_total', help: 'Telemetry messages consumed from Kafka', labelNames: ['topic'], registers });
    this.rejected = new Counter({ name: 'telemetry_messages_rejected_total', help: 'Malformed telemetry messages skipped', registers });
    this.stored = new Counter({ name: 'telemetry_reports_stored_total', help: 'Telemetry reports stored', registers });
    this.duplicates = new Counter({ name: 'telemetry_reports_duplicate_total', help: 'Telemetry reports already stored (redelivered)', registers });
    this.restarts = new Counter({ name: 'telemetry_session_restarts_total', help: 'Gateway restarts detected (a counter went down or a new process)', registers });
    this.fallbacks = new Counter({ name: 'telemetry_store_fallbacks_total', help: 'Batches retried with locked sessions (cache overtaken or a report already stored)', labelNames: ['reason'], registers });
    // Its own pg pool: the fast path streams COPY, which Prisma cannot. Sized like the service's pool
    // but no bigger than the partitions stored at once (1 against the embedded database).
    this.pool = new Pool({ connectionString: platform.databaseUrl, max: Math.max(1, Math.min(PARTITIONS_IN_PARALLEL, platform.databasePoolSize ?? 10)) });
    handlePoolErrors(this.pool, (error) => this.logger.warn({ event: 'telemetry_pool_error', err: error }, 'telemetry database connection failed'));
    this.store = new TelemetryStore(this.pool);
  }

  /** The partition's cache, or none for a batch from a revoked assignment (then the store locks). */
  private cacheFor(source: BatchSource | undefined): SessionCache | undefined {
    if (!source || !source.isCurrent()) return undefined;
    // Every rebalance revokes all partitions: forget every session, whatever comes back. (The
    // first batch of an assignment gets here before any other batch of it asks for a cache.)
    if (source.generation !== undefined && source.generation > this.generation) {
      this.generation = source.generation;
      this.caches = new Map();
    }
    const key = `${source.topic}:${source.partition}`;
    let cache = this.caches.get(key);
    if (!cache) {
      cache = new Map();
      this.caches.set(key, cache);
    }
    return cache;
  }

  async handle(messages: readonly ReceivedMessage[], source?: BatchSource): Promise<void> {
    const cache = this.cacheFor(source);
    const batch: PositionedReport[] = [];
    let index = 0;
    // Counted per run of one topic (a batch has one): a labelled inc per message showed in profiles.
    let topic: string | undefined;
    let received = 0;
    let rejected = 0;
    for (const message of messages) {
      // Parsing is the sink's main CPU work: let other partitions' database replies in between, so
      // their transactions (and the roll-up rows they lock) are not held open while this one parses.
      if (++index % PARSE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      if (message.topic !== topic) {
        if (topic !== undefined) this.received.inc({ topic }, received);
        topic = message.topic;
        received = 0;
      }
      received++;
      const parsed = parseTelemetryLazy(message.value);
      if (parsed.ok) {
        batch.push({ report: parsed.report, partition: message.partition, offset: message.offset });
      } else {
        rejected++;
        // The bus logs and counts the dead letter; without a batch (direct calls) it is only logged.
        if (source) source.deadLetter(message, `invalid telemetry: ${parsed.error}`);
        else {
          this.logger.warn(
            { event: 'telemetry_rejected', topic: message.topic, partition: message.partition, offset: message.offset, reason: parsed.error },
            'malformed telemetry record skipped',
          );
        }
      }
    }
    if (topic !== undefined) this.received.inc({ topic }, received);
    // Throws on database errors: the bus retries, or splits the batch to dead-letter the record at fault.
    const result = await this.store.store(batch, cache);
    // Counted once stored: a batch that fails is parsed again when the bus retries or splits it.
    this.rejected.inc(rejected);
    if (result.fallback) this.fallbacks.inc({ reason: result.fallback });
    this.stored.inc(result.stored);
    this.duplicates.inc(result.duplicates);
    this.restarts.inc(result.restarts);
  }

  /** After the bus transport stopped (and with it every batch being stored). */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
