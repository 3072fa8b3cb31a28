import { Inject, Injectable, Optional } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import type { MessageBus, ReceivedMessage } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { isObservable, lastValueFrom } from 'rxjs';
import { LOGGER, MESSAGE_BUS, READINESS_PROBES, type ReadinessProbe } from '../tokens';
import type { BusContext } from './bus-context';
import { BATCH, type BusEngine, type BusRoutes, type TopicKey } from './bus-routes';
import { EngineRunner } from './engine-runner';
import { DEFAULT_BACKOFF, type Backoff } from './retry';
import { RouteRunner } from './route-runner';

export const BUS_ROUTES = Symbol('BUS_ROUTES');
export const BUS_BACKOFF = Symbol('BUS_BACKOFF');

/**
 * The Nest transport over our MessageBus: a service's Kafka consumers are `@EventPattern` handlers
 * (pattern = a topic's logical name, see BusRoutes), and what every consumer needs is here once:
 * connecting with retries while the broker is away, starting a failed reader anew, dead-lettering
 * (the bus's BatchRunner), a readiness probe per route and per engine, and a shutdown that leaves
 * only once the batches being handled are done. Engines (the lease processor) are started,
 * probed and stopped with the readers. It is also a provider, so services can ask whether a route is live.
 */
@Injectable()
export class BusTransport extends Server implements CustomTransportStrategy {
  private readonly runners = new Map<string, RouteRunner>();
  private readonly engines: EngineRunner[] = [];
  private listening = false;
  private readonly log: Logger;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) logger: Logger,
    @Inject(BUS_ROUTES) routes: BusRoutes,
    @Inject(READINESS_PROBES) private readonly probes: ReadinessProbe[],
    @Optional() @Inject(BUS_BACKOFF) private readonly backoff: Backoff = DEFAULT_BACKOFF,
  ) {
    super();
    this.log = logger.child({ component: 'bus-transport' });
    for (const [pattern, route] of Object.entries(routes)) {
      if (!route) continue;
      const runner = new RouteRunner(pattern, route, bus, this.log, backoff);
      this.runners.set(pattern, runner);
      probes.push({ name: route.readiness, check: () => runner.check() });
    }
  }

  /** Runs `engine` with the readers: started when the transport listens, stopped when it closes. */
  addEngine(engine: BusEngine): void {
    const runner = new EngineRunner(engine, this.log, this.backoff);
    this.engines.push(runner);
    this.probes.push({ name: engine.name, check: () => runner.check() });
    if (this.listening) runner.start();
  }

  /** Whether the route of `pattern` reads right now (for request paths that must not wait for it). */
  isLive(pattern: TopicKey): boolean {
    return this.runners.get(pattern)?.isLive() ?? false;
  }

  /** Resolves once the route of `pattern` is live for the first time (a catch-up route: loaded). */
  whenLive(pattern: TopicKey): Promise<void> {
    const runner = this.runners.get(pattern);
    if (!runner) return Promise.reject(new Error(`no bus route for ${pattern}`));
    return runner.live;
  }

  /** Starts every route and engine in the background: the service runs (not ready) while Kafka is away. */
  listen(callback: (error?: unknown) => void): void {
    const handlers = this.getHandlers();
    const unrouted = [...handlers.keys()].filter((pattern) => !this.runners.has(pattern));
    const unhandled = [...this.runners.keys()].filter((pattern) => !handlers.has(pattern));
    if (unrouted.length > 0 || unhandled.length > 0) {
      callback(new Error(`bus transport: handlers without a route: [${unrouted.join(', ')}]; routes without a handler: [${unhandled.join(', ')}]`));
      return;
    }
    for (const [pattern, runner] of this.runners) {
      const handler = handlers.get(pattern);
      if (handler) runner.start(this.deliverer(pattern, handler));
    }
    for (const engine of this.engines) engine.start();
    this.listening = true;
    callback();
  }

  /** Stops every route and engine; resolves once no handler runs any more. */
  async close(): Promise<void> {
    this.listening = false;
    await Promise.all([...[...this.runners.values()].map((runner) => runner.stop()), ...this.engines.map((engine) => engine.stop())]);
  }

  on(): never {
    throw new Error('the bus transport has no events to listen to; read /health/ready');
  }

  unwrap<T>(): T {
    return this.bus as T;
  }

  /** A batch handler gets the partition's batch; any other handler each message in turn. */
  private deliverer(pattern: string, handler: MessageHandler): (messages: readonly ReceivedMessage[], context: BusContext) => Promise<void> {
    const batched = handler.extras?.['batch'] === BATCH.batch;
    return async (messages, context) => {
      if (batched) return this.invoke(pattern, handler, messages, context);
      for (const message of messages) await this.invoke(pattern, handler, message, context);
    };
  }

  private async invoke(pattern: string, handler: MessageHandler, data: readonly ReceivedMessage[] | ReceivedMessage, context: BusContext): Promise<void> {
    // Nest's proxy resolves with the handler's value, or an observable of it (interceptors, errors).
    const result: unknown = await handler(data, context);
    if (!isObservable(result)) return;
    try {
      await lastValueFrom(result, { defaultValue: undefined });
    } catch (error) {
      if (!isReplacedError(error)) throw error;
      throw new Error(`the handler of ${pattern} failed; its error was replaced by Nest's RPC filter (use @BusController() to keep it)`);
    }
  }
}

/** What Nest's default RPC exception filter makes of any error that is not an RpcException. */
function isReplacedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && !(error instanceof Error) && (error as { status?: unknown }).status === 'error';
}
