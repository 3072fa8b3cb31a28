import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { MessageBus, ReceivedMessage, Subscription, Topics } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, MetricsRegistry } from '@license-ledger/platform-nest';
import { Counter } from 'prom-client';

export const TELEMETRY_OPTIONS = Symbol('TELEMETRY_OPTIONS');

export interface TelemetryOptions {
  readonly consumerGroup: string;
}

/** Consumes the telemetry topic as one consumer group shared by every metrics replica. */
@Injectable()
export class TelemetryConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  private stopping = false;
  private readonly received: Counter<'topic'>;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(TELEMETRY_OPTIONS) private readonly options: TelemetryOptions,
    metrics: MetricsRegistry,
  ) {
    this.received = new Counter({
      name: 'telemetry_messages_received_total',
      help: 'Telemetry messages consumed from Kafka',
      labelNames: ['topic'],
      registers: [metrics.registry],
    });
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
          topics: [Topics.telemetry.name],
          fromBeginning: true,
          onMessages: (messages) => this.handle(messages),
        });
        this.logger.info({ event: 'consuming', topic: Topics.telemetry.name, group: this.options.consumerGroup }, 'consuming telemetry');
        return;
      } catch (error) {
        this.logger.warn({ event: 'subscribe_failed', err: error }, 'cannot subscribe to telemetry yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }

  async handle(messages: readonly ReceivedMessage[]): Promise<void> {
    for (const message of messages) this.received.inc({ topic: message.topic });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.starting;
    await this.subscription?.stop();
  }
}
