/**
 * The HTTP layer of POST /v1/license alone: the ingress's real route (LicenseController, its guard,
 * pipe and filter, the platform's request metric) on each HTTP adapter, built from dist/, over a
 * license handler that answers at once (no crypto, no Kafka). `raw` is Node's server with a bare
 * handler, the floor. The server runs in a child process; its CPU per request comes from /proc.
 *
 *   npx tsx tools/build.ts ingress
 *   npx tsx tools/ingress/bench-http-layer.ts [--modes raw,node,fastify,express] [--seconds 5] [--rounds 3] [--concurrency 64]
 *
 * BENCH_HTTP_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to the server processes.
 */
import { spawn } from 'node:child_process';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { INestApplication, MiddlewareConsumer, NestModule } from '@nestjs/common';
import { closedLoop, sendAll } from './bench-load';
import { processCpuSeconds } from './bench-services';
import { RawHttpClient, serializePost } from './raw-http';

type Mode = 'raw' | 'node' | 'fastify' | 'express';
const dist = join(__dirname, '..', '..', 'dist', 'apps', 'ingress');
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const answer = { status: 200, contentType: 'application/octet-stream', body: Buffer.alloc(300, 7) };
/** What the route uses of LicenseService: admits everything and answers 200 at once. */
const stubLicense = {
  options: { maxBodyBytes: 8192 },
  crypto: { keysDocument: () => ({}) },
  handler: {
    admitAddress: (): null => null,
    precheck: (contentType: string | undefined): typeof answer | null => (contentType === 'application/octet-stream' ? null : { ...answer, status: 415 }),
    tooLarge: () => ({ ...answer, status: 413 }),
    unexpected: () => ({ ...answer, status: 503 }),
    handleAdmitted: async () => answer,
  },
};

async function serve(mode: Mode): Promise<void> {
  // An orderly exit, so that a --cpu-prof given in BENCH_HTTP_NODE_ARGS is written.
  process.once('SIGTERM', () => process.exit(0));
  const load = <T>(path: string): T => require(join(dist, path)) as T;
  const platform = load<typeof import('../../libs/platform/nest/src')>('libs/platform/nest/src/index.js');
  const metrics = new platform.MetricsRegistry({ service: 'bench' } as ConstructorParameters<typeof platform.MetricsRegistry>[0]);
  if (mode === 'raw') {
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const stop = metrics.httpRequestSeconds.startTimer();
      response.on('finish', () => stop({ method: 'POST', route: '/v1/license', status: String(response.statusCode) }));
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void stubLicense.handler.handleAdmitted().then((a) => {
          response.statusCode = a.status;
          response.setHeader('content-type', a.contentType);
          response.end(a.body);
        });
      });
    });
    server.listen(0, '127.0.0.1', () => say(`port ${JSON.stringify(server.address())}`));
    return;
  }
  const { Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const controller = load<typeof import('../../apps/ingress/src/license.controller')>('apps/ingress/src/license.controller.js');
  const service = load<typeof import('../../apps/ingress/src/license.service')>('apps/ingress/src/license.service.js');
  const adapters = load<typeof import('../../apps/ingress/src/http-adapter')>('apps/ingress/src/http-adapter.js');
  const options = { httpAdapter: mode, http: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 65_000, idleMs: 65_000 } } as unknown as Parameters<typeof adapters.ingressHttpAdapter>[0];
  const adapter = adapters.ingressHttpAdapter(options);
  @Module({
    controllers: [controller.LicenseController],
    providers: [
      { provide: service.LicenseService, useValue: stubLicense },
      { provide: platform.MetricsRegistry, useValue: metrics },
    ],
  })
  class BenchModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      if (mode === 'fastify') platform.recordFastifyRequests(adapter.getInstance(), metrics);
      else if (adapter instanceof platform.NodeHttpAdapter) platform.recordNodeRequests(adapter, metrics);
      else consumer.apply(platform.HttpMetricsMiddleware).forRoutes('*path');
    }
  }
  const app: INestApplication = await NestFactory.create(BenchModule, adapter, { ...adapters.ingressNestOptions(options), logger: false });
  await app.listen(0, '127.0.0.1');
  say(`port ${JSON.stringify(app.getHttpServer().address())}`);
}

async function measure(mode: Mode, seconds: number, concurrency: number): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...(process.env['BENCH_HTTP_NODE_ARGS'] ?? '').split(' ').filter(Boolean), __filename, '--serve', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /"port":(\d+)/.exec(chunk.toString('utf8'));
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error(`${mode} server exited`)));
    });
    const http = new RawHttpClient(port, '127.0.0.1');
    const request = serializePost(`127.0.0.1:${port}`, '/v1/license', 'application/octet-stream', Buffer.alloc(250, 1));
    await sendAll(http, Array.from({ length: 20_000 }, () => request), concurrency);
    const before = processCpuSeconds(child.pid);
    const result = await closedLoop(http, Array.from({ length: 2_000_000 }, () => request), concurrency, seconds);
    const used = processCpuSeconds(child.pid) - before;
    http.close();
    const answered = [...result.statuses.values()].reduce((sum, n) => sum + n, 0);
    if (result.statuses.get(200) !== answered) throw new Error(`${mode}: statuses ${JSON.stringify([...result.statuses])}`);
    return (used * 1e6) / answered;
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { modes: { type: 'string', default: 'raw,node,fastify,express' }, seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '64' }, serve: { type: 'string' } } });
  if (values.serve) return serve(values.serve as Mode);
  const modes = (values.modes ?? '').split(',') as Mode[];
  const results = new Map<Mode, number[]>(modes.map((mode) => [mode, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of modes) {
      const us = await measure(mode, Number(values.seconds), Number(values.concurrency));
      results.get(mode)?.push(us);
      say(`${mode} (round ${round + 1}): ${us.toFixed(1)} µs CPU per request`);
    }
  }
  for (const [mode, list] of results) say(`${mode}: median ${[...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]?.toFixed(1)} µs (${list.map((us) => us.toFixed(0)).join(', ')})`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
