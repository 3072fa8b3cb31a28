import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { MessageBus, ReceivedMessage, Subscription, Topics } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, MetricsRegistry, PrismaService } from '@license-ledger/platform-nest';
import { parseTelemetry } from '@license-ledger/metrics-usage';
import { Counter } from 'prom-client';
import { PositionedReport, TelemetryStore } from './telemetry-store';

export const TELEMETRY_OPTIONS = Symbol('TELEMETRY_OPTIONS');

export interface TelemetryOptions {
  readonly consumerGroup: string;
  /** Topic to consume (default Topics.telemetry.name; tests use their own). */
  readonly topic?: string;
}

/**
 * The telemetry sink: consumes the telemetry topic as one consumer group shared by every metrics
 * replica, validates each record strictly (malformed ones are logged, counted and skipped) and
 * stores each partition batch in one transaction before its offsets are committed. A crash between
 * the two re-delivers the batch, which the store recognises by (session id, nonce).
 */
@Injectable()
export class TelemetryConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  private stopping = false;
  private readonly received: Counter<'topic'>;
  private readonly rejected: Counter;
  private readonly stored: Counter;
  private readonly duplicates: Counter;
  private readonly restarts: Counter;
  private readonly store: TelemetryStore;
  private readonly topic: string;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(TELEMETRY_OPTIONS) private readonly options: TelemetryOptions,
    metrics: MetricsRegistry,
    prisma: PrismaService,
  ) {
    const registers = [metrics.registry];
    this.received = new Counter({ name: 'telemetry_messages_received_total', help: 'Telemetry messages consumed from Kafka', labelNames: ['topic'], registers });
    this.rejected = new Counter({ name: 'telemetry_messages_rejected_total', help: 'Malformed telemetry messages skipped', registers });
    this.stored = new Counter({ name: 'telemetry_reports_stored_total', help: 'Telemetry reports stored', registers });
    this.duplicates = new Counter({ name: 'telemetry_reports_duplicate_total', help: 'Telemetry reports already stored (redelivered)', registers });
    this.restarts = new Counter({ name: 'telemetry_session_restarts_total', help: 'Gateway restarts detected (a counter went down or a new process)', registers });
    this.store = new TelemetryStore(prisma.client);
    this.topic = options.topic ?? Topics.telemetry.name;
  }

  /** Does not wait for the broker: the service starts (not ready) while Kafka is away. */
  onApplicationBootstrap(): void {
    this.starting = this.subscribeUntilStopped();
  }

  private async subscribeUntilStopped(): Promise<void> {
    while (!this.stopping) {
      try {
        this.subscription = await this.bus.subscribe({
          groupId: this.options.consumerGroup,
          topics: [this.topic],
          fromBeginning: true,
          partitionsInParallel: 3,
          onMessages: (messages) => this.handle(messages),
        });
        this.logger.info({ event: 'consuming', topic: this.topic, group: this.options.consumerGroup }, 'consuming telemetry');
        return;
      } catch (error) {
        this.logger.warn({ event: 'subscribe_failed', err: error }, 'cannot subscribe to telemetry yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }

  async handle(messages: readonly ReceivedMessage[]): Promise<void> {
    const batch: PositionedReport[] = [];
    for (const message of messages) {
      this.received.inc({ topic: message.topic });
      const parsed = parseTelemetry(message.value);
      if (parsed.ok) {
        batch.push({ report: parsed.report, partition: message.partition, offset: message.offset });
      } else {
        this.rejected.inc();
        this.logger.warn(
          { event: 'telemetry_rejected', topic: message.topic, partition: message.partition, offset: message.offset, reason: parsed.error },
          'malformed telemetry record skipped',
        );
      }
    }
    // Throws on database errors: the offsets stay uncommitted and the bus delivers the batch again.
    const result = await this.store.store(batch);
    this.stored.inc(result.stored);
    this.duplicates.inc(result.duplicates);
    this.restarts.inc(result.restarts);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.starting;
    await this.subscription?.stop();
  }
}
