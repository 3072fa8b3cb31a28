import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { BoxSecretKey, SigningKey, systemRandom } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto } from '@license-ledger/protocol-exchange';
import { LicenseHandler, refusal } from './license-handler';
import { RequestBodyFailed } from './license-http';
import { AddressRateLimitGuard, LicenseBodyPipe, LicenseRefusal, LicenseRefusalFilter, type LicenseEndpoint } from './license-pipeline';

const errors: object[] = [];
const logger = { warn: () => undefined, info: () => undefined, debug: () => undefined, error: (fields: object) => void errors.push(fields) };

function endpoint(addressBurst = 100): LicenseEndpoint {
  const handler = new LicenseHandler({
    crypto: new LicenseServerCrypto({ boxKey: BoxSecretKey.generate(systemRandom), signingKey: SigningKey.generate(systemRandom) }),
    ledger: { ready: true, agreementOf: () => undefined, send: () => Promise.reject(new Error('not asked')) },
    telemetry: { enqueue: () => undefined },
    logger,
    instanceId: 'test',
    ledgerTimeoutMs: 100,
    retryAfterSeconds: 7,
    maxBodyBytes: 64,
    requestTimeWindowMs: 300_000,
    keyRate: { perSecond: 1, burst: 100 },
    addressRate: { perSecond: 0.001, burst: addressBurst },
  });
  return { handler, options: { maxBodyBytes: 64 } };
}

/** A plain Node server whose every request goes to `serve`, with Nest's context for it. */
async function serving(serve: (context: ExecutionContextHost, request: IncomingMessage, response: ServerResponse) => void | Promise<void>): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => void serve(new ExecutionContextHost([request, response]), request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/license`, server };
}

const exchange = async (url: string, body = 'x', contentType = 'application/octet-stream') => {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), connection: response.headers.get('connection'), text: await response.text() };
};

describe('the license route pipeline', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });
  const start = async (serve: Parameters<typeof serving>[0]): Promise<string> => {
    const { url, server } = await serving(serve);
    servers.push(server);
    return url;
  };

  it('answers what nothing foresaw with 503 and Retry-After, logged, never a 500', async () => {
    const filter = new LicenseRefusalFilter(endpoint());
    const url = await start((context) => filter.catch(new TypeError('boom'), context));
    errors.length = 0;
    expect(await exchange(url)).toEqual({
      status: 503,
      retryAfter: '7',
      connection: 'keep-alive',
      text: '{"error":503,"reason":"unavailable","message":"the license service cannot answer now; retry later"}',
    });
    expect(errors).toEqual([expect.objectContaining({ event: 'license_failed', err: expect.any(TypeError) })]);
  });

  it('sends a refusal as the protocol words it, closing the connection when its body was left unread', async () => {
    const filter = new LicenseRefusalFilter(endpoint());
    const answer = refusal(415, 'unsupported_media_type', 'no');
    const url = await start((context) => filter.catch(new LicenseRefusal(answer, true), context));
    expect(await exchange(url)).toEqual({ status: 415, retryAfter: null, connection: 'close', text: '{"error":415,"reason":"unsupported_media_type","message":"no"}' });
  });

  it('drops the connection of a client whose body broke off', async () => {
    const filter = new LicenseRefusalFilter(endpoint());
    const url = await start((context) => filter.catch(new RequestBodyFailed('aborted'), context));
    await expect(exchange(url)).rejects.toThrow('fetch failed');
  });

  it('limits each address in its guard, before the body is read', async () => {
    const guard = new AddressRateLimitGuard(endpoint(1));
    const outcomes: string[] = [];
    const url = await start((context, _request, response) => {
      try {
        outcomes.push(String(guard.canActivate(context)));
      } catch (error) {
        outcomes.push(error instanceof LicenseRefusal ? `${error.getStatus()} ${error.answer.headers?.['retry-after']} close=${error.closeConnection}` : String(error));
      }
      response.end();
    });
    await exchange(url);
    await exchange(url);
    expect(outcomes).toEqual(['true', '429 1000 close=false']);
  });

  it('reads the raw body within the limit, and refuses another type or a longer body as 415 and 413', async () => {
    const pipe = new LicenseBodyPipe(endpoint());
    const outcomes: string[] = [];
    const url = await start(async (_context, request, response) => {
      try {
        outcomes.push((await pipe.transform(request)).toString());
      } catch (error) {
        outcomes.push(error instanceof LicenseRefusal ? `${error.getStatus()} close=${error.closeConnection}` : String(error));
      }
      response.end();
    });
    await exchange(url, 'sealed bytes');
    await exchange(url, '{}', 'application/json');
    await exchange(url, 'x'.repeat(65));
    expect(outcomes).toEqual(['sealed bytes', '415 close=true', '413 close=true']);
  });
});
