import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { LedgerProjection, LedgerProjector } from '@license-ledger/lease-projection';
import { MessageBus } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, MetricsRegistry, PrismaService } from '@license-ledger/platform-nest';
import { Counter } from 'prom-client';
import { LEASE_OPTIONS, LeaseOptions } from './lease-processor.service';

/**
 * Keeps the PostgreSQL projection of the ledger (agreements, keys, locks, event history) up to
 * date. Its consumer group is shared by every lease instance, so each partition is projected by
 * one of them; the projection's idempotence covers redeliveries and rebalances.
 */
@Injectable()
export class ProjectionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly projector: LedgerProjector;
  private readonly logger: Logger;
  private readonly groupId: string;
  private starting: Promise<void> | undefined;
  private stopping = false;

  constructor(
    @Inject(MESSAGE_BUS) bus: MessageBus,
    @Inject(LOGGER) logger: Logger,
    @Inject(LEASE_OPTIONS) options: LeaseOptions,
    prisma: PrismaService,
    metrics: MetricsRegistry,
  ) {
    const records = new Counter({
      name: 'lease_projection_records_total',
      help: 'Ledger records seen by the projector, by result (applied, duplicate, marker, malformed)',
      labelNames: ['result'],
      registers: [metrics.registry],
    });
    this.logger = logger.child({ component: 'projection' });
    this.groupId = `${options.groupId}.projection`;
    this.projector = new LedgerProjector({
      bus,
      projection: new LedgerProjection(prisma.client),
      eventsTopic: options.eventsTopic,
      groupId: this.groupId,
      logger: this.logger,
      onBatch: ({ applied, duplicates, markers, malformed }) => {
        records.inc({ result: 'applied' }, applied);
        records.inc({ result: 'duplicate' }, duplicates);
        records.inc({ result: 'marker' }, markers);
        records.inc({ result: 'malformed' }, malformed);
      },
    });
  }

  /** Does not wait for the broker: the service boots (not ready) while Kafka is away. */
  onApplicationBootstrap(): void {
    this.starting = this.startUntilStopped();
  }

  private async startUntilStopped(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.projector.start();
        this.logger.info({ event: 'projecting', group: this.groupId }, 'projecting the ledger into the database');
        return;
      } catch (error) {
        this.logger.warn({ event: 'projection_subscribe_failed', err: error }, 'cannot subscribe to the ledger yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.starting;
    await this.projector.stop();
  }
}
