import { Inject, Injectable } from '@nestjs/common';
import { LedgerProjection, LedgerProjector } from '@license-ledger/lease-projection';
import { BatchContext, MessageBus, ReceivedMessage, Topics } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, MetricsRegistry, PrismaService, type SharedRoute } from '@license-ledger/platform-nest';
import { Counter } from 'prom-client';
import { LEASE_OPTIONS, LeaseOptions } from './lease-processor.service';

/**
 * How the projection reads the ledger: one consumer group shared by every lease instance, so each
 * partition is projected by one of them; the projection's idempotence covers redeliveries and
 * rebalances. Offsets are committed after a batch's transaction; a record the database refuses
 * for good is dead-lettered.
 */
export function projectionRoute(options: LeaseOptions): SharedRoute {
  return {
    kind: 'shared',
    topic: options.eventsTopic,
    groupId: `${options.groupId}.projection`,
    fromBeginning: true,
    commit: 'after-handler',
    maxWaitMs: 200,
    deadLetter: { topic: Topics.deadLetters.name },
    readiness: 'projection',
  };
}

/** Keeps the PostgreSQL projection of the ledger (agreements, keys, locks, event history) up to date. */
@Injectable()
export class ProjectionService {
  private readonly projector: LedgerProjector;

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
    const route = projectionRoute(options);
    this.projector = new LedgerProjector({
      bus,
      projection: new LedgerProjection(prisma.client),
      eventsTopic: route.topic,
      groupId: route.groupId,
      logger: logger.child({ component: 'projection' }),
      onBatch: ({ applied, duplicates, markers, malformed }) => {
        records.inc({ result: 'applied' }, applied);
        records.inc({ result: 'duplicate' }, duplicates);
        records.inc({ result: 'marker' }, markers);
        records.inc({ result: 'malformed' }, malformed);
      },
    });
  }

  /** Projects one partition's batch in one database transaction; records that do not decode are dead-lettered. */
  async project(messages: readonly ReceivedMessage[], batch: Pick<BatchContext, 'partition' | 'deadLetter'>): Promise<void> {
    await this.projector.project(batch.partition, messages, batch);
  }
}
