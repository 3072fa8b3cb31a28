import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { isKeyEvent } from '@license-ledger/lease-domain';
import { decodeLedgerRecord, isLedgerEvent } from '@license-ledger/lease-ledger';
import { handlePoolErrors } from '@license-ledger/platform-database';
import { BatchContext, MessageBus, ReceivedMessage, Topics } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, MetricsRegistry, PLATFORM_OPTIONS, type PlatformOptions, type SharedRoute } from '@license-ledger/platform-nest';
import { Pool } from 'pg';
import { Counter, Gauge } from 'prom-client';
import { newPartitionCache, PartitionCache, PositionedEvent, UsageHistoryStore } from './usage-history-store';

export interface UsageHistoryOptions {
  /** Shared by every metrics replica; not the lease service's groups. */
  readonly consumerGroup: string;
  /** The lease events topic (default Topics.leaseEvents.name; tests use their own). */
  readonly topic?: string;
  /** Where unreadable records go (default Topics.deadLetters.name). */
  readonly deadLetterTopic?: string;
}

export const DEFAULT_USAGE_HISTORY_OPTIONS: UsageHistoryOptions = { consumerGroup: 'license-ledger.metrics-usage-history' };

/**
 * How the usage history reads the lease events (UsageHistoryController): a consumer group of its
 * own shared by the metrics replicas, from the beginning of the log. The offsets that count are the
 * ones the store commits with the rows; Kafka's committed offsets only save re-reading.
 */
export function usageHistoryRoute(options: UsageHistoryOptions): SharedRoute {
  return {
    kind: 'shared',
    topic: options.topic ?? Topics.leaseEvents.name,
    groupId: options.consumerGroup,
    fromBeginning: true,
    maxWaitMs: 500,
    deadLetter: { topic: options.deadLetterTopic ?? Topics.deadLetters.name },
    readiness: 'usage_history',
  };
}

/** Where a batch came from; `generation` counts the reader's assignments (BusContext). */
type BatchSource = Pick<BatchContext, 'topic' | 'partition' | 'isCurrent' | 'deadLetter'> & { readonly generation?: number };

/**
 * Folds the lease events into the usage history (usage-fold.ts). An unreadable record is
 * dead-lettered and skipped (the history is a read model; `ledger-cli verify` reports the record);
 * an unreachable database is waited out by the transport.
 */
@Injectable()
export class UsageHistoryConsumer implements OnApplicationShutdown {
  private readonly applied: Counter;
  private readonly duplicates: Counter;
  private readonly lastEventTime: Gauge;
  private readonly store: UsageHistoryStore;
  private readonly pool: Pool;
  /** Per `topic:partition`, for the reader's current assignment only. */
  private caches = new Map<string, PartitionCache>();
  private generation = 0;
  private latestFoldedMs = 0;
  /** The events topic, once a batch has named it (for the lag gauge). */
  private topic: string | undefined;

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: MetricsRegistry,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
  ) {
    const registers = [metrics.registry];
    const lag = (): Promise<Map<number, bigint>> => this.lag();
    new Gauge({
      name: 'usage_history_consumer_lag',
      help: 'Lease events not folded into the usage history yet, per partition (end offset minus the stored next offset; measured at scrape)',
      labelNames: ['partition'],
      registers,
      async collect(this: Gauge<'partition'>): Promise<void> {
        for (const [partition, behind] of await lag()) this.set({ partition: String(partition) }, behind > 0n ? Number(behind) : 0);
      },
    });
    this.applied = new Counter({ name: 'usage_history_events_applied_total', help: 'Lease events folded into the usage history', registers });
    this.duplicates = new Counter({ name: 'usage_history_events_duplicate_total', help: 'Lease event records delivered again and skipped (already folded)', registers });
    this.lastEventTime = new Gauge({ name: 'usage_history_last_event_time_seconds', help: 'Decision time of the latest lease event folded (how far behind the ledger the history is)', registers });
    this.pool = new Pool({ connectionString: platform.databaseUrl, max: 2 });
    handlePoolErrors(this.pool, (error) => this.logger.warn({ event: 'usage_history_pool_error', err: error }, 'usage history database connection failed'));
    this.store = new UsageHistoryStore(this.pool);
  }

  /** The partition's cache while the batch is current; every rebalance starts them over. */
  private cacheFor(source: BatchSource): PartitionCache | undefined {
    if (!source.isCurrent()) return undefined;
    if (source.generation !== undefined && source.generation > this.generation) {
      this.generation = source.generation;
      this.caches = new Map();
    }
    const key = `${source.topic}:${source.partition}`;
    let cache = this.caches.get(key);
    if (!cache) this.caches.set(key, (cache = newPartitionCache()));
    return cache;
  }

  /** Per partition, how far the stored offsets are behind the topic's end; empty when either cannot be read in 2 s. */
  private async lag(): Promise<Map<number, bigint>> {
    const topic = this.topic;
    if (topic === undefined) return new Map();
    try {
      const read = Promise.all([
        this.bus.partitionRanges(topic),
        this.pool.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset FROM usage_history_offset WHERE topic = $1`, [topic]),
      ]);
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 2_000).unref());
      const [ranges, stored] = await Promise.race([read, timeout]);
      const next = new Map(stored.rows.map((row) => [row.partition, BigInt(row.next_offset)]));
      return new Map(ranges.map((range) => [range.partition, BigInt(range.end) - (next.get(range.partition) ?? BigInt(range.start))]));
    } catch (error) {
      this.logger.debug({ event: 'usage_history_lag_unknown', err: error }, 'cannot measure the usage history lag');
      return new Map();
    }
  }

  async handle(messages: readonly ReceivedMessage[], source: BatchSource): Promise<void> {
    this.topic = source.topic;
    const cache = this.cacheFor(source);
    const records: PositionedEvent[] = messages.map((message) => {
      try {
        const record = decodeLedgerRecord(message.value);
        // Ownership markers and the gateway keys' streams say nothing about locks.
        return { offset: message.offset, event: !isLedgerEvent(record) || isKeyEvent(record) ? undefined : record };
      } catch (error) {
        source.deadLetter(message, `malformed ledger record: ${error instanceof Error ? error.message : String(error)}`);
        return { offset: message.offset, event: undefined };
      }
    });
    const result = await this.store.store(source.topic, source.partition, records, cache);
    this.applied.inc(result.applied);
    this.duplicates.inc(result.duplicates);
    const latest = records.reduce((at, r) => Math.max(at, r.event?.metadata.at ?? 0), 0);
    if (latest > this.latestFoldedMs) {
      this.latestFoldedMs = latest;
      this.lastEventTime.set(latest / 1000);
    }
  }

  /** After the bus transport stopped (and with it every batch being stored). */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
