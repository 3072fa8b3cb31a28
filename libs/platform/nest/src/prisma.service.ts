import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createPrismaClient, PrismaClient } from '@license-ledger/platform-database';
import { LOGGER, PLATFORM_OPTIONS, ReadinessProbe } from './tokens';
import type { Logger } from '@license-ledger/platform-logging';
import type { PlatformOptions } from './platform.module';

/** The service's one Prisma client, closed on shutdown. */
@Injectable()
export class PrismaService implements OnApplicationShutdown, ReadinessProbe {
  readonly name = 'database';
  readonly client: PrismaClient;

  constructor(@Inject(PLATFORM_OPTIONS) options: PlatformOptions, @Inject(LOGGER) logger: Logger) {
    // A dropped connection (database restart, failover) is logged; the pool replaces it and the
    // query that needs it fails or retries on its own, so the process must not die of it.
    this.client = createPrismaClient(options.databaseUrl, {
      poolSize: options.databasePoolSize,
      onPoolError: (error) => logger.warn({ event: 'database_pool_error', err: error }, 'database connection failed'),
    });
  }

  async check(): Promise<void> {
    await this.client.$queryRaw`SELECT 1`;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.$disconnect();
  }
}
