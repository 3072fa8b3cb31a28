/**
 * A small service for the bus transport's integration specs: the real bootstrap (startHttpService,
 * so the transport is connected as in production), the real bus, and handlers whose behaviour each
 * test decides. Test code only.
 */
import { Writable } from 'node:stream';
import { Inject, INestApplication, Module } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { ReceivedMessage } from '@license-ledger/platform-kafka';
import { createLogger } from '@license-ledger/platform-logging';
import { startHttpService } from '../bootstrap';
import { PlatformModule } from '../platform.module';
import { BusContext, BusController, DeliveryPhase } from './bus-context';
import { BATCH, BusEngine, BusRoutes, TopicKey } from './bus-routes';
import { BusTransport } from './bus-transport';
import { BusTransportModule } from './bus-transport.module';

/** One handler call as the handler saw it. */
export interface Delivery {
  readonly pattern: string;
  readonly phase: DeliveryPhase;
  readonly topic: string;
  readonly partition: number;
  readonly generation: number;
  readonly values: readonly string[];
  readonly offsets: readonly string[];
}

/** What the handlers do (may throw or wait) and what they have handled. */
export class Recorder {
  readonly handled: Delivery[] = [];
  readonly logLines: string[] = [];
  behave: (pattern: string, values: readonly string[], context: BusContext) => Promise<void> = async () => undefined;

  values(pattern: string): string[] {
    return this.handled.filter((d) => d.pattern === pattern).flatMap((d) => d.values);
  }
}

const RECORDER = Symbol('RECORDER');

@BusController()
class RecordingController {
  constructor(@Inject(RECORDER) private readonly recorder: Recorder) {}

  /** A batch handler. */
  @EventPattern<TopicKey>('telemetry', BATCH)
  async telemetry(@Payload() messages: readonly ReceivedMessage[], @Ctx() context: BusContext): Promise<void> {
    await this.record('telemetry', messages, context);
  }

  /** A batch handler of a catch-up route. */
  @EventPattern<TopicKey>('leaseEvents', BATCH)
  async events(@Payload() messages: readonly ReceivedMessage[], @Ctx() context: BusContext): Promise<void> {
    await this.record('leaseEvents', messages, context);
  }

  /** A handler of one message at a time. */
  @EventPattern<TopicKey>('leaseReplies')
  async reply(@Payload() message: ReceivedMessage, @Ctx() context: BusContext): Promise<void> {
    await this.record('leaseReplies', [message], context);
  }

  private async record(pattern: string, messages: readonly ReceivedMessage[], context: BusContext): Promise<void> {
    const values = messages.map((m) => m.value.toString('utf8'));
    await this.recorder.behave(pattern, values, context);
    this.recorder.handled.push({
      pattern,
      phase: context.phase,
      topic: context.topic,
      partition: context.partition,
      generation: context.generation,
      values,
      offsets: messages.map((m) => m.offset),
    });
  }
}

export interface TestApp {
  readonly app: INestApplication;
  readonly transport: BusTransport;
  readonly base: string;
  readiness(): Promise<{ status: number; checks: Record<string, { ok: boolean; state: string }> }>;
}

/** Starts the service with these routes (each pattern of RecordingController needs one) and engines. */
export async function startTestApp(brokers: readonly string[], routes: BusRoutes, recorder: Recorder, engines: readonly BusEngine[] = []): Promise<TestApp> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      recorder.logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger('transport-test', 'info', sink);
  const platform = { service: 'transport-test', instanceId: 'test-1', logger, kafkaBrokers: brokers, databaseUrl: 'postgresql://nobody@127.0.0.1:1/nowhere', usesDatabase: false };
  @Module({
    imports: [PlatformModule.forRoot(platform), BusTransportModule.forRoot(routes, { backoff: { initialMs: 50, maxMs: 500 } })],
    controllers: [RecordingController],
    providers: [{ provide: RECORDER, useValue: recorder }],
  })
  class TestModule {}
  const app = await startHttpService({ service: 'transport-test', module: TestModule, logger, host: '127.0.0.1', port: 0 });
  const transport = app.get(BusTransport);
  for (const engine of engines) transport.addEngine(engine);
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  return {
    app,
    transport,
    base,
    readiness: async () => {
      const answer = await fetch(`${base}/health/ready`);
      const body = (await answer.json()) as { checks: Record<string, { ok: boolean; state: string }> };
      return { status: answer.status, checks: body.checks };
    },
  };
}
