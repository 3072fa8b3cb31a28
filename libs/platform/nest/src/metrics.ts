import { Controller, Get, Header, Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { PLATFORM_OPTIONS } from './tokens';
import type { PlatformOptions } from './platform.module';

/** One Prometheus registry per service instance (not the global one, so tests can run several). */
@Injectable()
export class MetricsRegistry {
  readonly registry = new Registry();
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status'>;
  /** Records skipped after being copied to the dead-letter topic, by source topic and consumer group. */
  readonly deadLettered: Counter<'topic' | 'group'>;

  constructor(@Inject(PLATFORM_OPTIONS) options: PlatformOptions) {
    this.registry.setDefaultLabels({ service: options.service });
    collectDefaultMetrics({ register: this.registry });
    this.httpRequestSeconds = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.deadLettered = new Counter({
      name: 'dead_lettered_records_total',
      help: 'Records a consumer could not process, copied to the dead-letter topic and skipped',
      labelNames: ['topic', 'group'],
      registers: [this.registry],
    });
  }
}

@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsRegistry) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const stop = this.metrics.httpRequestSeconds.startTimer();
    response.on('finish', () => {
      // The matched route pattern, not the raw URL, keeps label cardinality bounded.
      const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
      stop({ method: request.method, route, status: String(response.statusCode) });
    });
    next();
  }
}

/** What recordFastifyRequests uses of a Fastify instance (its types would make Fastify every service's dependency). */
interface FastifyHooks {
  addHook(
    name: 'onResponse',
    hook: (request: { readonly method: string; readonly routeOptions: { readonly url?: string } }, reply: { readonly statusCode: number; readonly elapsedTime: number }, done: () => void) => void,
  ): unknown;
}

/** HttpMetricsMiddleware's measurement for an application on Fastify, labelled by the matched route. */
export function recordFastifyRequests(fastify: FastifyHooks, metrics: MetricsRegistry): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequestSeconds.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
}

/** The same measurement for an application on NodeHttpAdapter (its `observeRequests`). */
export function recordNodeRequests(adapter: { observeRequests(observer: (method: string, route: string, status: number, seconds: number) => void): void }, metrics: MetricsRegistry): void {
  adapter.observeRequests((method, route, status, seconds) => metrics.httpRequestSeconds.observe({ method, route, status: String(status) }, seconds));
}

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsRegistry) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
