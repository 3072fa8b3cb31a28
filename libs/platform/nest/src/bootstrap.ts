import { INestApplication, NestApplicationOptions, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Logger } from '@license-ledger/platform-logging';
import { NestJsonLogger } from './nest-logger';

export interface HttpServiceOptions {
  readonly service: string;
  readonly module: Type<unknown>;
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
  /** Extra Nest options, e.g. httpsOptions or bodyParser: false. */
  readonly nestOptions?: NestApplicationOptions;
  /** Extra fields for the "listening" log line. */
  readonly describe?: Record<string, unknown>;
}

/**
 * Creates and starts a service's HTTP server with JSON logs and graceful shutdown: on SIGTERM or
 * SIGINT, Nest stops accepting requests, runs every shutdown hook (consumers leave their group,
 * producers flush, database pools close) and only then exits.
 */
export async function startHttpService(options: HttpServiceOptions): Promise<INestApplication> {
  const nestOptions = options.nestOptions ?? {};
  const app = await NestFactory.create(options.module, {
    logger: new NestJsonLogger(options.logger),
    bufferLogs: false,
    // Clients keep connections alive (gateways renewing, scrapers): without this, shutdown would
    // wait for them forever.
    forceCloseConnections: true,
    ...nestOptions,
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  const server = app.getHttpServer() as { keepAliveTimeout: number; headersTimeout: number };
  // Node closes idle kept-alive connections after 5 s; a client sending on one just as it closes
  // gets a reset. Keep them longer than common client idle timeouts (and headers a bit longer still).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await app.listen(options.port, options.host);
  const address = app.getHttpServer().address() as { port: number } | string | null;
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const url = `${nestOptions.httpsOptions ? 'https' : 'http'}://${options.host}:${port}`;
  options.logger.info({ event: 'listening', url, ...options.describe }, `${options.service} listening on ${url}`);
  return app;
}
