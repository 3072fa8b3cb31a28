import type { Server } from 'node:http';
import { INestApplication, NestApplicationOptions, Type } from '@nestjs/common';
import { AbstractHttpAdapter, NestFactory } from '@nestjs/core';
import type { Logger } from '@license-ledger/platform-logging';
import { NestJsonLogger } from './nest-logger';
import { connectBusTransport } from './transport/bus-transport.module';

export interface HttpServiceOptions {
  readonly service: string;
  readonly module: Type<unknown>;
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
  /** Extra Nest options, e.g. httpsOptions or bodyParser: false. */
  readonly nestOptions?: NestApplicationOptions;
  /** The HTTP platform (e.g. a FastifyAdapter); Express without it. */
  readonly httpAdapter?: AbstractHttpAdapter;
  /** Extra fields for the "listening" log line. */
  readonly describe?: Record<string, unknown>;
  /** How long connections may idle or dawdle; defaultHttpTimeouts without it. */
  readonly httpTimeouts?: HttpTimeouts;
}

/** Limits on what a client may hold open without doing anything useful (all in ms, all > 0). */
export interface HttpTimeouts {
  /** From connecting (or starting a request on a kept-alive connection) until its headers are in. */
  readonly headersMs: number;
  /** From starting a request until all of it, body included, is in. At least headersMs. */
  readonly requestMs: number;
  /** An idle kept-alive connection between requests. */
  readonly keepAliveMs: number;
  /** No bytes either way at any other time, e.g. a client that stops reading its answer. */
  readonly idleMs: number;
}

export const defaultHttpTimeouts: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 65_000, idleMs: 65_000 };

/**
 * Applies `timeouts` to a Node HTTP(S) server; call before it listens. Node's own defaults let a
 * connection that sends nothing, or half a request, stay open for minutes (or for ever: `timeout`
 * is 0), and it checks the header and request deadlines only every 30 s.
 */
export function applyHttpTimeouts(server: Server, timeouts: HttpTimeouts): void {
  server.headersTimeout = timeouts.headersMs;
  server.requestTimeout = timeouts.requestMs;
  // Node closes idle kept-alive connections after 5 s; a client sending on one just as it closes
  // gets a reset. Keep them longer than common client idle timeouts.
  server.keepAliveTimeout = timeouts.keepAliveMs;
  server.timeout = timeouts.idleMs;
  // Read when the server starts listening: deadlines hold to within a quarter of the shorter one (at most 1 s late).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(10, Math.min(1_000, Math.floor(Math.min(timeouts.headersMs, timeouts.requestMs) / 4)));
}

/**
 * Creates and starts a service's HTTP server with JSON logs and graceful shutdown: on SIGTERM or
 * SIGINT, Nest stops accepting requests, stops the bus transport (its readers finish their batches
 * and leave their groups), runs every shutdown hook (producers flush, database pools close) and
 * only then exits.
 */
export async function startHttpService(options: HttpServiceOptions): Promise<INestApplication> {
  const nestOptions = options.nestOptions ?? {};
  const applicationOptions: NestApplicationOptions = {
    logger: new NestJsonLogger(options.logger),
    bufferLogs: false,
    // Clients keep connections alive (gateways renewing, scrapers): without this, shutdown would
    // wait for them forever.
    forceCloseConnections: true,
    ...nestOptions,
  };
  const app = options.httpAdapter
    ? await NestFactory.create(options.module, options.httpAdapter, applicationOptions)
    : await NestFactory.create(options.module, applicationOptions);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  // Before listen, and so before the application's bootstrap hooks: a service may set its own there.
  applyHttpTimeouts(app.getHttpServer() as Server, options.httpTimeouts ?? defaultHttpTimeouts);
  await app.listen(options.port, options.host);
  // Hybrid: the service's Kafka readers are the bus transport's @EventPattern handlers.
  await connectBusTransport(app);
  const address = app.getHttpServer().address() as { port: number } | string | null;
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const url = `${nestOptions.httpsOptions ? 'https' : 'http'}://${options.host}:${port}`;
  options.logger.info({ event: 'listening', url, ...options.describe }, `${options.service} listening on ${url}`);
  return app;
}
