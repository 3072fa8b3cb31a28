import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { LeaseProcessor } from '@license-ledger/lease-ledger';
import { MessageBus } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, MetricsRegistry, PLATFORM_OPTIONS, PlatformOptions } from '@license-ledger/platform-nest';

export const LEASE_OPTIONS = Symbol('LEASE_OPTIONS');

/** Names on the cluster; overridable so several ledgers (or test runs) can share one cluster. */
export interface LeaseOptions {
  readonly commandsTopic: string;
  readonly eventsTopic: string;
  readonly repliesTopic: string;
  readonly groupId: string;
}

/** Runs the ledger engine for the lifetime of the Nest application. */
@Injectable()
export class LeaseProcessorService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly processor: LeaseProcessor;

  constructor(
    @Inject(MESSAGE_BUS) bus: MessageBus,
    @Inject(LOGGER) logger: Logger,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
    @Inject(LEASE_OPTIONS) options: LeaseOptions,
    metrics: MetricsRegistry,
  ) {
    this.processor = new LeaseProcessor({
      bus,
      topics: { commands: options.commandsTopic, events: options.eventsTopic, replies: options.repliesTopic },
      groupId: options.groupId,
      instanceId: platform.instanceId,
      logger: logger.child({ component: 'ledger' }),
      // Written inside the ledger's transactions, so counted here rather than by the bus.
      onDeadLetter: ({ topic, group }) => metrics.deadLettered.inc({ topic, group }),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.processor.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.processor.stop();
  }
}
