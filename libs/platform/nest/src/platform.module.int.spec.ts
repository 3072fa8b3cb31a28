import { INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createLogger } from '@license-ledger/platform-logging';
import { Writable } from 'node:stream';
import { NestJsonLogger } from './nest-logger';
import { PlatformModule } from './platform.module';

const kafkaBrokers = process.env['KAFKA_BROKERS']?.split(',');
const databaseUrl = process.env['DATABASE_URL'];
if (!kafkaBrokers || !databaseUrl) throw new Error('KAFKA_BROKERS and DATABASE_URL must be set: run `npm test`');

const quiet = createLogger('platform-test', 'fatal', new Writable({ write: (_c, _e, done) => done() }));

async function startApp(brokers: readonly string[], url: string): Promise<{ app: INestApplication; base: string }> {
  @Module({
    imports: [
      PlatformModule.forRoot({ service: 'platform-test', instanceId: 'test-1', logger: quiet, kafkaBrokers: brokers, databaseUrl: url }),
    ],
  })
  class TestModule {}
  const app = await NestFactory.create(TestModule, { logger: new NestJsonLogger(quiet) });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, base: `http://127.0.0.1:${address.port}` };
}

describe('PlatformModule against the real broker and database', () => {
  it('reports ready when Kafka and PostgreSQL answer, and serves Prometheus metrics', async () => {
    const { app, base } = await startApp(kafkaBrokers, databaseUrl);
    try {
      const ready = await fetch(`${base}/health/ready`);
      const body = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
      expect({ status: ready.status, body }).toMatchObject({
        status: 200,
        body: { status: 'ready', checks: { kafka: { ok: true }, database: { ok: true } } },
      });

      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await metrics.text();
      expect(text).toContain('process_cpu_seconds_total{service="platform-test"}');
      const readyCount = text
        .split('\n')
        .find((line) => line.startsWith('http_request_duration_seconds_count{') && line.includes('route="/health/ready"'));
      expect(readyCount).toMatch(/status="200".*\} 1$/);
    } finally {
      await app.close();
    }
  }, 60_000);

  it('reports not ready (503), naming each dependency that does not answer', async () => {
    const { app, base } = await startApp(['127.0.0.1:1'], 'postgresql://postgres@127.0.0.1:1/nowhere');
    try {
      const ready = await fetch(`${base}/health/ready`);
      const body = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
      expect(ready.status).toBe(503);
      expect(body).toMatchObject({ status: 'not_ready', checks: { kafka: { ok: false }, database: { ok: false } } });
    } finally {
      await app.close();
    }
  }, 60_000);
});
