import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createPrismaClient, PrismaClient } from '@license-ledger/platform-database';
import { PLATFORM_OPTIONS, ReadinessProbe } from './tokens';
import type { PlatformOptions } from './platform.module';

/** The service's one Prisma client, closed on shutdown. */
@Injectable()
export class PrismaService implements OnApplicationShutdown, ReadinessProbe {
  readonly name = 'database';
  readonly client: PrismaClient;

  constructor(@Inject(PLATFORM_OPTIONS) options: PlatformOptions) {
    this.client = createPrismaClient(options.databaseUrl, { poolSize: options.databasePoolSize });
  }

  async check(): Promise<void> {
    await this.client.$queryRaw`SELECT 1`;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.$disconnect();
  }
}
