import type { BatchContext, MessageBus, PartitionRange, ReaderOptions, ReaderState, ReceivedMessage, Subscription } from '@license-ledger/platform-kafka';
import { NotReady } from '../health.controller';
import { BusContext, DeliveryPhase } from './bus-context';
import type { BusRoute, CatchUpRoute, KeyPartitionRoute, SharedRoute } from './bus-routes';
import { Backoff, keepTrying } from './retry';

/** How long a route that was reading may be without a reader before it reports not ready. */
export const READER_RECOVERY_GRACE_MS = 20_000;

/** Hands a partition's records to the route's handler. */
export type Deliver = (messages: readonly ReceivedMessage[], context: BusContext) => Promise<void>;

export interface RouteLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

type RouteState =
  /** Not reading yet (before the transport listens, or while the broker cannot be reached). */
  | { readonly kind: 'starting' }
  /** A catch-up route reading the topic up to its end. */
  | { readonly kind: 'loading' }
  | { readonly kind: 'live'; readonly subscription: Subscription }
  | { readonly kind: 'stopped' };

/**
 * One route of the bus transport: connects its reader (retrying with backoff while the broker is
 * away), starts it anew if its client fails for good, answers for it in /health/ready, and on stop
 * leaves only once the batches being handled are done.
 */
export class RouteRunner {
  private state: RouteState = { kind: 'starting' };
  /** Whether a readiness check has seen this route reading, and since when it has not (grace period). */
  private hasRead = false;
  private outageStartedAt: number | undefined;
  private readonly aborter = new AbortController();
  private running: Promise<void> | undefined;
  private generation = 0;
  /** Per partition, the next offset to hand over (catch-up and key-partition routes read on from here). */
  private readonly positions = new Map<number, bigint>();
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private becameLive: () => void = () => undefined;
  /** Resolves the first time the route is live. */
  readonly live: Promise<void> = new Promise((resolve) => (this.becameLive = resolve));

  constructor(
    readonly pattern: string,
    readonly route: BusRoute,
    private readonly bus: MessageBus,
    private readonly logger: RouteLogger,
    private readonly backoff: Backoff,
  ) {}

  private get fields(): object {
    const { route } = this;
    return { pattern: this.pattern, topic: route.topic, ...(route.kind === 'key-partition' ? { reader: route.name } : { group: route.groupId }) };
  }

  start(deliver: Deliver): void {
    this.running ??= this.run(deliver);
  }

  /** Reading and holding its partitions right now (no request). */
  isLive(): boolean {
    return this.state.kind === 'live' && this.state.subscription.state().kind === 'reading';
  }

  /**
   * For /health/ready: resolves while the route reads. Local state only: whether the brokers answer
   * is the `kafka` check's question, and a per-route request would hang on a lost group coordinator.
   * A route that has been reading and is replacing its reader (a broker of several lost, a
   * rebalance) stays ready for READER_RECOVERY_GRACE_MS: the service keeps working meanwhile, and
   * a load balancer should not drop every instance for a failover the cluster is built to survive.
   */
  async check(): Promise<void> {
    const problem = this.readingProblem();
    if (!problem) {
      this.hasRead = true;
      this.outageStartedAt = undefined;
      return;
    }
    if (this.hasRead && problem.state !== 'stopped') {
      const now = Date.now();
      this.outageStartedAt ??= now;
      if (now - this.outageStartedAt < READER_RECOVERY_GRACE_MS) return;
    }
    throw problem;
  }

  private readingProblem(): NotReady | undefined {
    const { state } = this;
    switch (state.kind) {
      case 'starting':
        return new NotReady('starting', `${this.pattern}: not reading ${this.route.topic} yet`);
      case 'loading':
        return new NotReady('loading', `${this.pattern}: still reading ${this.route.topic} up to its end`);
      case 'stopped':
        return new NotReady('stopped', `${this.pattern}: stopped`);
      case 'live': {
        const reader = state.subscription.state();
        if (reader.kind === 'joining') return new NotReady('starting', `${this.pattern}: joining its group`);
        if (reader.kind !== 'reading') return new NotReady('unavailable', `${this.pattern}: reader ${reader.kind}${'error' in reader ? `: ${String(reader.error)}` : ''}`);
        return undefined;
      }
      default: {
        const unknown: never = state;
        throw new Error(`unknown route state ${JSON.stringify(unknown)}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.aborter.abort();
    await this.running;
    const { state } = this;
    this.state = { kind: 'stopped' };
    if (state.kind === 'live') await state.subscription.stop();
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private async run(deliver: Deliver): Promise<void> {
    const { signal } = this.aborter;
    while (!signal.aborted) {
      let failed: (state: ReaderState) => void = () => undefined;
      const failure = new Promise<ReaderState>((resolve) => (failed = resolve));
      const onState = (state: ReaderState): void => {
        if (state.kind === 'failed') failed(state);
      };
      const opened = await keepTrying(`reading ${this.pattern}`, this.fields, () => this.open(deliver, onState), { signal, backoff: this.backoff, logger: this.logger });
      if (!opened) return;
      const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      const lost = await Promise.race([failure, aborted]);
      if (!lost || lost.kind !== 'failed') return;
      // The client gave up (a non-retriable error): this reader reads nothing more. Start a new one.
      this.logger.warn({ ...this.fields, event: 'bus_reader_failed', err: lost.error }, `the reader of ${this.pattern} failed; starting it again`);
      const { state } = this;
      this.state = { kind: 'starting' };
      if (state.kind === 'live') await state.subscription.stop();
    }
  }

  private async open(deliver: Deliver, onState: (state: ReaderState) => void): Promise<void> {
    const { route } = this;
    const reader: Pick<ReaderOptions, 'signal' | 'onState' | 'maxWaitMs' | 'minBytes' | 'maxBytesPerPartition' | 'maxBytes'> = {
      signal: this.aborter.signal,
      onState,
      ...(route.maxWaitMs === undefined ? {} : { maxWaitMs: route.maxWaitMs }),
      ...(route.minBytes === undefined ? {} : { minBytes: route.minBytes }),
      ...(route.maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition: route.maxBytesPerPartition }),
      ...(route.maxBytes === undefined ? {} : { maxBytes: route.maxBytes }),
    };
    const subscription = await this.openReader(route, reader, deliver);
    this.state = { kind: 'live', subscription };
    this.logger.info({ ...this.fields, event: 'consuming' }, `reading ${route.topic} for ${this.pattern}`);
    this.becameLive();
  }

  private openReader(route: BusRoute, reader: Pick<ReaderOptions, 'signal' | 'onState'>, deliver: Deliver): Promise<Subscription> {
    switch (route.kind) {
      case 'shared':
        return this.openShared(route, reader, deliver);
      case 'catch-up':
        return this.openCatchUp(route, reader, deliver);
      case 'key-partition':
        return this.openKeyPartition(route, reader, deliver);
      default: {
        const unknown: never = route;
        throw new Error(`unknown route ${JSON.stringify(unknown)}`);
      }
    }
  }

  private openShared(route: SharedRoute, reader: Pick<ReaderOptions, 'signal' | 'onState'>, deliver: Deliver): Promise<Subscription> {
    return this.bus.subscribe({
      ...reader,
      groupId: route.groupId,
      topics: [route.topic],
      fromBeginning: route.fromBeginning,
      ...(route.commit ? { commit: route.commit } : {}),
      ...(route.partitionsInParallel ? { partitionsInParallel: route.partitionsInParallel } : {}),
      ...(route.deadLetter ? { deadLetter: route.deadLetter } : {}),
      onAssignment: () => void (this.generation += 1),
      onMessages: (messages, batch) => this.handle(deliver, messages, batch, 'live'),
    });
  }

  /** Reads the topic up to its current end (from where an earlier attempt got to), then follows it. */
  private async openCatchUp(route: CatchUpRoute, reader: Pick<ReaderOptions, 'signal' | 'onState'>, deliver: Deliver): Promise<Subscription> {
    const { topic } = route;
    const { signal } = this.aborter;
    this.state = { kind: 'loading' };
    const ranges = await this.bus.partitionRanges(topic);
    // Where an earlier attempt got to, within what the topic holds now.
    const from = (range: PartitionRange): bigint => {
      const [start, end] = [BigInt(range.start), BigInt(range.end)];
      const reached = this.positions.get(range.partition) ?? start;
      return reached < start ? start : reached > end ? end : reached;
    };
    await this.bus.readRanges({
      topic,
      signal,
      ranges: ranges.map((range) => ({ ...range, start: String(from(range)) })),
      onMessages: async (messages) => {
        const [first] = messages;
        if (!first) return;
        const batch: BatchContext = {
          topic,
          partition: first.partition,
          isCurrent: () => !signal.aborted,
          deadLetter: () => {
            throw new Error(`${this.pattern} is rebuilt from the whole topic and never skips a record`);
          },
        };
        await this.handle(deliver, messages, batch, 'catch-up');
      },
      onPosition: (partition, next) => void this.positions.set(partition, BigInt(next)),
    });
    for (const range of ranges) this.positions.set(range.partition, BigInt(range.end));
    this.logger.info({ ...this.fields, event: 'caught_up' }, `${this.pattern} has read ${topic} up to where it ended at start`);
    const subscription = await this.bus.subscribe({
      ...reader,
      groupId: route.groupId,
      topics: [topic],
      fromBeginning: true,
      commit: 'none',
      onAssignment: () => void (this.generation += 1),
      onMessages: (messages, batch) => this.handleFrom(deliver, messages, batch),
    });
    // The group starts at the beginning: go on from where the catch-up ended instead.
    for (const [partition, offset] of this.positions) subscription.seek(topic, partition, String(offset));
    return subscription;
  }

  private async openKeyPartition(route: KeyPartitionRoute, reader: Pick<ReaderOptions, 'signal' | 'onState'>, deliver: Deliver): Promise<Subscription> {
    const partition = await this.bus.partitionOf(route.topic, route.key);
    const position = this.positions.get(partition);
    this.generation = 1;
    return this.bus.assign({
      ...reader,
      name: route.name,
      topic: route.topic,
      partitions: [{ partition, from: position === undefined ? 'end' : String(position) }],
      ...(route.deadLetter ? { deadLetter: route.deadLetter } : {}),
      onMessages: (messages, batch) => this.handleFrom(deliver, messages, batch),
    });
  }

  /** Hands over the records not handed over before (a catch-up or an earlier reader got to `positions`). */
  private async handleFrom(deliver: Deliver, messages: readonly ReceivedMessage[], batch: BatchContext): Promise<void> {
    const next = this.positions.get(batch.partition) ?? 0n;
    const fresh = messages.filter((m) => BigInt(m.offset) >= next);
    const last = fresh[fresh.length - 1];
    if (!last) return;
    await this.handle(deliver, fresh, batch, 'live');
    this.positions.set(batch.partition, BigInt(last.offset) + 1n);
  }

  private async handle(deliver: Deliver, messages: readonly ReceivedMessage[], batch: BatchContext, phase: DeliveryPhase): Promise<void> {
    this.inFlight += 1;
    try {
      await deliver(messages, new BusContext(batch, this.pattern, this.generation, phase));
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}
