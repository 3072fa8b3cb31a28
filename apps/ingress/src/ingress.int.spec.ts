import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { createLogger } from '@license-ledger/platform-logging';
import { startHttpService } from '@license-ledger/platform-nest';
import { createTestTopics, eventually, integrationEnv } from '@license-ledger/platform-testing';
import { BoxSecretKey, SigningKey, systemRandom } from '@license-ledger/protocol-crypto';
import type { IngressOptions } from './config';
import { ingressHttpAdapter, ingressNestOptions } from './http-adapter';
import { createIngressModule } from './ingress.module';
import { isLicensePath } from './license-http';

/**
 * The ingress as it runs (Nest on either HTTP platform, the real broker) with short connection
 * timeouts: connections that idle or dawdle are closed, POST /v1/license answers through Nest's
 * pipeline, and readiness follows what it really uses.
 */
const { brokers } = integrationEnv();
const HEADERS_MS = 400;
const REQUEST_MS = 800;
const KEEP_ALIVE_MS = 300;
// Node adds a second to the keep-alive timeout it advertises, so that clients close first.
const KEEP_ALIVE_SLACK_MS = 1_000;
// Deadlines are checked every HEADERS_MS / 4; the rest is a busy machine's scheduling.
const LATE_MS = 1_500;
const MAX_BODY_BYTES = 1_024;
const ADDRESS_BURST = 40;

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

describe.each(['node', 'fastify', 'express'] as const)('ingress on the real broker (%s)', (httpAdapter) => {
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
      maxBodyBytes: MAX_BODY_BYTES,
      requestTimeWindowMs: 300_000,
      keyRate: { perSecond: 5, burst: 20 },
      // Refills slowly: the flood at the end empties the bucket.
      addressRate: { perSecond: 0.01, burst: ADDRESS_BURST },
      topics,
      groupPrefix: `test-ingress-${Date.now()}`,
      http: { headersMs: HEADERS_MS, requestMs: REQUEST_MS, keepAliveMs: KEEP_ALIVE_MS, idleMs: 5_000 },
      httpAdapter,
    };
    const logger = createLogger('ingress', 'fatal', new Writable({ write: (_c, _e, done) => done() }));
    // No database: the ingress must neither need nor probe one.
    const platform = { service: 'ingress', instanceId: 'test-1', logger, kafkaBrokers: brokers, databaseUrl: 'postgresql://nobody@127.0.0.1:1/nowhere' };
    app = await startHttpService({
      service: 'ingress',
      module: createIngressModule(platform, options),
      logger,
      host: '127.0.0.1',
      port: 0,
      nestOptions: ingressNestOptions(options),
      httpAdapter: ingressHttpAdapter(options),
    });
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
    // The body pipe has the request and waits for its body: the request deadline still holds.
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

  const post = async (path: string, body: Uint8Array, contentType = 'application/octet-stream') => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const header = (name: string): string | null => response.headers.get(name);
    return { status: response.status, type: header('content-type'), connection: header('connection'), retryAfter: header('retry-after'), text: await response.text() };
  };
  const refusal = (status: number, reason: string, message: string): string => JSON.stringify({ error: status, reason, message });

  it('answers POST /v1/license through its pipeline: 415 and 413 without reading the body, 400 for what does not open', async () => {
    expect(await post('/v1/license', Buffer.from('{}'), 'application/json')).toEqual({
      status: 415,
      type: 'application/json',
      connection: 'close',
      retryAfter: null,
      text: refusal(415, 'unsupported_media_type', 'Content-Type must be application/octet-stream'),
    });
    const tooLarge = refusal(413, 'payload_too_large', `the body exceeds ${MAX_BODY_BYTES} bytes`);
    expect(await post('/v1/license', Buffer.alloc(MAX_BODY_BYTES + 1))).toMatchObject({ status: 413, type: 'application/json', connection: 'close', text: tooLarge });
    const garbage = await post('/v1/license', Buffer.from('hello, license'));
    expect(garbage).toMatchObject({ status: 400, type: 'application/json', connection: 'keep-alive', retryAfter: null });
    expect(JSON.parse(garbage.text)).toMatchObject({ error: 400, reason: 'invalid_request', message: expect.any(String) });
  });

  it('answers 413 once a body of undeclared length passes the limit, and closes the connection', async () => {
    const socket = await open();
    const done = closed(socket, Date.now());
    const chunk = Buffer.alloc(MAX_BODY_BYTES + 1, 7);
    socket.write(`POST /v1/license HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n`);
    socket.write(chunk);
    socket.write('\r\n');
    const { received } = await done;
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(received.endsWith(refusal(413, 'payload_too_large', `the body exceeds ${MAX_BODY_BYTES} bytes`))).toBe(true);
  });

  it('routes the license path as Express does: any case, one trailing slash, the query ignored', async () => {
    const urls = ['/v1/license', '/v1/license/', '/v1/license?x=1', '/V1/License', '/v1/licenses', '/v1/license/keys', '/v1/licens', '/v1/license//'];
    const routed: Array<[string, boolean]> = [];
    for (const url of urls) routed.push([url, (await post(url, Buffer.from('x'))).status !== 404]);
    expect(routed).toEqual(urls.map((url) => [url, isLicensePath(url)]));
  });

  it('counts POST /v1/license in the request metric under its route', async () => {
    const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counted = scraped.split('\n').filter((line) => line.startsWith('http_request_duration_seconds_count') && line.includes('method="POST"') && line.includes('route="/v1/license"'));
    expect(counted.map((line) => line.replace(/^.*status="(\d+)".* (\d+)$/, '$1')).sort()).toEqual(expect.arrayContaining(['400', '413', '415']));
  });

  // Last: it empties the address's bucket.
  it("refuses an address over its rate with 429 and Retry-After (the rate limit's guard)", async () => {
    const answers = await Promise.all(Array.from({ length: ADDRESS_BURST }, () => post('/v1/license', Buffer.from('x'))));
    const limited = answers.filter((answer) => answer.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    // A token every 100 s, less what has refilled since the bucket was last touched.
    expect(limited[0]).toEqual({ status: 429, type: 'application/json', connection: 'keep-alive', retryAfter: expect.stringMatching(/^(9\d|100)$/), text: refusal(429, 'rate_limited', 'too many requests from 127.0.0.1') });
  });
});
