import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { createLogger } from '@license-ledger/platform-logging';
import { startHttpService } from '@license-ledger/platform-nest';
import { createTestTopics, eventually, integrationEnv } from '@license-ledger/platform-testing';
import { BoxSecretKey, SigningKey, systemRandom } from '@license-ledger/protocol-crypto';
import type { IngressOptions } from './config';
import { createIngressModule } from './ingress.module';

/**
 * The ingress as it runs (Nest, the license fast path, the real broker) with short connection
 * timeouts: connections that idle or dawdle are closed, and readiness follows what it really uses.
 */
const { brokers } = integrationEnv();
const HEADERS_MS = 400;
const REQUEST_MS = 800;
const KEEP_ALIVE_MS = 300;
// Node adds a second to the keep-alive timeout it advertises, so that clients close first.
const KEEP_ALIVE_SLACK_MS = 1_000;
// Deadlines are checked every HEADERS_MS / 4; the rest is a busy machine's scheduling.
const LATE_MS = 1_500;

jest.setTimeout(60_000);

/** Resolves when `socket` closes: how long after `from` and what the server wrote. Bounded by the test's timeout. */
function closed(socket: Socket, from: number): Promise<{ afterMs: number; received: string }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => resolve({ afterMs: Date.now() - from, received }));
  });
}

describe('ingress on the real broker', () => {
  let app: INestApplication;
  let port: number;

  beforeAll(async () => {
    const topics = await createTestTopics(brokers, 'test.ingress', ['commands', 'events', 'replies', 'telemetry'], 1);
    const options: IngressOptions = {
      boxKey: BoxSecretKey.generate(systemRandom),
      signingKey: SigningKey.generate(systemRandom),
      sharedKeyCacheSize: 100,
      tls: undefined,
      ledgerTimeoutMs: 200,
      retryAfterSeconds: 1,
      maxBodyBytes: 8_192,
      requestTimeWindowMs: 300_000,
      keyRate: { perSecond: 5, burst: 20 },
      addressRate: { perSecond: 1_000, burst: 1_000 },
      topics,
      groupPrefix: `test-ingress-${Date.now()}`,
      http: { headersMs: HEADERS_MS, requestMs: REQUEST_MS, keepAliveMs: KEEP_ALIVE_MS, idleMs: 5_000 },
    };
    const logger = createLogger('ingress', 'fatal', new Writable({ write: (_c, _e, done) => done() }));
    // No database: the ingress must neither need nor probe one.
    const platform = { service: 'ingress', instanceId: 'test-1', logger, kafkaBrokers: brokers, databaseUrl: 'postgresql://nobody@127.0.0.1:1/nowhere' };
    app = await startHttpService({ service: 'ingress', module: createIngressModule(platform, options), logger, host: '127.0.0.1', port: 0, nestOptions: { bodyParser: false } });
    port = (app.getHttpServer().address() as { port: number }).port;
  });

  afterAll(async () => {
    await app?.close();
  });

  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });

  it('closes a connection that never sends anything once the headers are due', async () => {
    const socket = await open();
    const { afterMs, received } = await closed(socket, Date.now());
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(afterMs).toBeLessThan(HEADERS_MS + LATE_MS);
  });

  it.each([
    ['partial headers for the license endpoint', 'POST /v1/license HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n', HEADERS_MS],
    ['partial headers for a Nest route', 'GET /health/live HTTP/1.1\r\nHost: x\r\n', HEADERS_MS],
    // The fast path has the request and waits for its body: the request deadline still holds.
    ['a partial body for the license endpoint', 'POST /v1/license HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789', REQUEST_MS],
  ])('closes a connection that sends %s and stops', async (_what, text, deadlineMs) => {
    const socket = await open();
    const started = Date.now();
    const done = closed(socket, started);
    socket.write(text);
    const { afterMs, received } = await done;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(afterMs).toBeLessThan(deadlineMs + LATE_MS);
  });

  it('answers a request in time, then closes the kept-alive connection once it idles', async () => {
    const socket = await open();
    const done = closed(socket, Date.now());
    const answered = new Promise<number>((resolve) => socket.once('data', () => resolve(Date.now())));
    socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    const answeredAt = await answered;
    const { received } = await done;
    const idleMs = Date.now() - answeredAt;
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*"status":"alive"/);
    // Kept open past the headers deadline (it applies to requests, not to pauses between them).
    expect(idleMs).toBeGreaterThanOrEqual(KEEP_ALIVE_MS + KEEP_ALIVE_SLACK_MS - 50);
    expect(idleMs).toBeLessThan(KEEP_ALIVE_MS + KEEP_ALIVE_SLACK_MS + LATE_MS);
  });

  it('is ready once Kafka answers and the key directory is loaded, without any database', async () => {
    const body = await eventually('the ingress to be ready', 30_000, async () => {
      const answer = await fetch(`http://127.0.0.1:${port}/health/ready`);
      return answer.status === 200 ? ((await answer.json()) as { status: string; checks: Record<string, unknown> }) : undefined;
    });
    expect(body).toEqual({
      status: 'ready',
      checks: {
        kafka: { ok: true, state: 'up', ms: expect.any(Number) },
        key_directory: { ok: true, state: 'up', ms: expect.any(Number) },
        ledger_replies: { ok: true, state: 'up', ms: expect.any(Number) },
      },
    });
  });
});
