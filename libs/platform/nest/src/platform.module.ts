import {
  DynamicModule,
  Global,
  Inject,
  Injectable,
  MiddlewareConsumer,
  Module,
  NestModule,
  OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { KafkaJsMessageBus, MessageBus } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { HealthController } from './health.controller';
import { HttpMetricsMiddleware, MetricsController, MetricsRegistry, recordFastifyRequests, recordNodeRequests } from './metrics';
import { NodeHttpAdapter } from './node-http-adapter';
import { PrismaService } from './prisma.service';
import { LOGGER, MESSAGE_BUS, PLATFORM_OPTIONS, READINESS_PROBES, ReadinessProbe } from './tokens';

export interface PlatformOptions {
  /** Service name, as in logs and metrics labels. */
  readonly service: string;
  /** Distinguishes replicas of one service (Kafka client id, reply routing). */
  readonly instanceId: string;
  readonly logger: Logger;
  readonly kafkaBrokers: readonly string[];
  readonly databaseUrl: string;
  readonly databasePoolSize?: number;
  /** False for a service that never touches PostgreSQL: no Prisma client, no database readiness probe. */
  readonly usesDatabase?: boolean;
}

@Injectable()
class KafkaReadinessProbe implements ReadinessProbe, OnApplicationShutdown {
  readonly name = 'kafka';
  constructor(@Inject(MESSAGE_BUS) private readonly bus: MessageBus) {}
  check(): Promise<void> {
    return this.bus.ping();
  }
  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}

/**
 * What every service has: JSON logger, Kafka bus, Prisma, health and Prometheus endpoints.
 * Global so feature modules inject these without re-importing.
 */
@Global()
@Module({})
export class PlatformModule implements NestModule {
  static forRoot(options: PlatformOptions): DynamicModule {
    const database = options.usesDatabase !== false ? [PrismaService] : [];
    return {
      module: PlatformModule,
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: PLATFORM_OPTIONS, useValue: options },
        { provide: LOGGER, useValue: options.logger },
        {
          provide: MESSAGE_BUS,
          useFactory: (metrics: MetricsRegistry): MessageBus =>
            new KafkaJsMessageBus({
              clientId: `${options.service}-${options.instanceId}`,
              brokers: options.kafkaBrokers,
              logger: options.logger.child({ component: 'kafka' }),
              onDeadLetter: ({ topic, group }) => metrics.deadLettered.inc({ topic, group }),
            }),
          inject: [MetricsRegistry],
        },
        MetricsRegistry,
        ...database,
        KafkaReadinessProbe,
        {
          // A list services add their own dependencies to while they are constructed (the ingress's key directory).
          provide: READINESS_PROBES,
          useFactory: (...probes: ReadinessProbe[]): ReadinessProbe[] => probes,
          inject: [KafkaReadinessProbe, ...database],
        },
      ],
      exports: [PLATFORM_OPTIONS, LOGGER, MESSAGE_BUS, MetricsRegistry, READINESS_PROBES, ...database],
    };
  }

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(MetricsRegistry) private readonly metrics: MetricsRegistry,
  ) {}

  configure(consumer: MiddlewareConsumer): void {
    // Fastify runs Nest middleware on Node's bare request, where the matched route is unknown: its
    // own hook records instead (and without middleware, Fastify needs no middleware layer at all).
    // NodeHttpAdapter has no middleware at all; it reports each answer itself.
    const adapter = this.adapterHost.httpAdapter as HttpAdapterHost['httpAdapter'] | undefined;
    if (adapter?.getType() === 'fastify') recordFastifyRequests(adapter.getInstance(), this.metrics);
    else if (adapter instanceof NodeHttpAdapter) recordNodeRequests(adapter, this.metrics);
    else consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
  }
}
