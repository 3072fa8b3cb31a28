import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Logger } from '@license-ledger/platform-logging';
import { NestJsonLogger } from './nest-logger';

export interface HttpServiceOptions {
  readonly service: string;
  readonly module: Type<unknown>;
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
}

/**
 * Creates and starts a service's HTTP server with JSON logs and graceful shutdown: on SIGTERM or
 * SIGINT, Nest stops accepting requests, runs every shutdown hook (consumers leave their group,
 * producers flush, database pools close) and only then exits.
 */
export async function startHttpService(options: HttpServiceOptions): Promise<INestApplication> {
  const app = await NestFactory.create(options.module, {
    logger: new NestJsonLogger(options.logger),
    bufferLogs: false,
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(options.port, options.host);
  const address = app.getHttpServer().address() as { port: number } | string | null;
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  options.logger.info({ event: 'listening', url: `http://${options.host}:${port}` }, `${options.service} listening on http://${options.host}:${port}`);
  return app;
}
