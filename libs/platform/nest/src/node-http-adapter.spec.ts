import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanActivate, Controller, ForbiddenException, Get, Header, HttpCode, INestApplication, Injectable, Module, Param, Post, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NodeHttpAdapter } from './node-http-adapter';

@Injectable()
class RefuseAll implements CanActivate {
  canActivate(): boolean {
    throw new ForbiddenException('no entry');
  }
}

@Controller()
class ExampleController {
  @Get('things/list')
  list(): { things: string[] } {
    return { things: ['a', 'b'] };
  }

  @Get('text')
  @Header('content-type', 'text/plain; charset=utf-8')
  text(): string {
    return 'plain';
  }

  @Post('things')
  @HttpCode(202)
  create(): undefined {
    return undefined;
  }

  @Get('guarded')
  @UseGuards(RefuseAll)
  guarded(): string {
    return 'never';
  }

  @Get('fails')
  fails(): never {
    throw new Error('boom');
  }
}

@Module({ controllers: [ExampleController] })
class ExampleModule {}

describe('NodeHttpAdapter', () => {
  let app: INestApplication;
  let base: string;
  const observed: Array<[string, string, number]> = [];

  beforeAll(async () => {
    const adapter = new NodeHttpAdapter();
    adapter.observeRequests((method, route, status) => void observed.push([method, route, status]));
    app = await NestFactory.create(ExampleModule, adapter, { logger: false, bodyParser: false, forceCloseConnections: true });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app.close();
  });

  it('routes as Express does by default: any case, one trailing slash, query ignored', async () => {
    for (const path of ['/things/list', '/Things/LIST', '/things/list/', '/things/list?x=1']) {
      const response = await fetch(`${base}${path}`);
      expect([path, response.status, response.headers.get('content-type'), await response.json()]).toEqual([path, 200, 'application/json; charset=utf-8', { things: ['a', 'b'] }]);
    }
    expect((await fetch(`${base}/things/list//`)).status).toBe(404);
  });

  it('answers HEAD as GET without a body, and keeps the status and headers a handler sets', async () => {
    const head = await fetch(`${base}/text`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/plain; charset=utf-8', '']);
    const text = await fetch(`${base}/text`);
    expect(await text.text()).toBe('plain');
    const created = await fetch(`${base}/things`, { method: 'POST' });
    expect([created.status, await created.text()]).toEqual([202, '']);
  });

  it("answers unknown routes, guards' refusals and failures through Nest's exception handling", async () => {
    const missing = await fetch(`${base}/nowhere`, { method: 'DELETE' });
    expect([missing.status, await missing.json()]).toEqual([404, { message: 'Cannot DELETE /nowhere', error: 'Not Found', statusCode: 404 }]);
    const wrongMethod = await fetch(`${base}/things/list`, { method: 'POST' });
    expect(wrongMethod.status).toBe(404);
    const refused = await fetch(`${base}/guarded`);
    expect([refused.status, await refused.json()]).toEqual([403, { message: 'no entry', error: 'Forbidden', statusCode: 403 }]);
    const failed = await fetch(`${base}/fails`);
    expect([failed.status, await failed.json()]).toEqual([500, { statusCode: 500, message: 'Internal server error' }]);
  });

  it('reports each answer with the route it matched', async () => {
    observed.length = 0;
    await (await fetch(`${base}/Things/List/`)).text();
    await (await fetch(`${base}/nowhere`)).text();
    expect(observed).toEqual([
      ['GET', '/things/list', 200],
      ['GET', 'unmatched', 404],
    ]);
  });

  it('serves HTTPS when given httpsOptions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'node-adapter-tls-'));
    try {
      const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=node-adapter-test'], { stdio: 'ignore' });
      const tls = await NestFactory.create(ExampleModule, new NodeHttpAdapter(), { logger: false, bodyParser: false, httpsOptions: { key: readFileSync(key), cert: readFileSync(cert) } });
      await tls.listen(0, '127.0.0.1');
      try {
        const port = (tls.getHttpServer().address() as AddressInfo).port;
        const answer = await new Promise<{ status: number | undefined; body: string; encrypted: boolean }>((resolve, reject) => {
          const sent = httpsRequest({ host: '127.0.0.1', port, path: '/things/list', rejectUnauthorized: false, agent: false }, (response) => {
            const encrypted = 'encrypted' in response.socket;
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
            response.on('end', () => resolve({ status: response.statusCode, body, encrypted }));
          });
          sent.on('error', reject);
          sent.end();
        });
        expect(answer).toEqual({ status: 200, body: JSON.stringify({ things: ['a', 'b'] }), encrypted: true });
      } finally {
        await tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses at boot what it cannot route: path parameters', async () => {
    @Controller()
    class WithParameter {
      @Get('things/:id')
      one(@Param('id') id: string): string {
        return id;
      }
    }
    @Module({ controllers: [WithParameter] })
    class WithParameterModule {}
    const other = await NestFactory.create(WithParameterModule, new NodeHttpAdapter(), { logger: false, bodyParser: false, abortOnError: false });
    await expect(other.init()).rejects.toThrow(/path parameters/);
    await other.close();
  });
});
